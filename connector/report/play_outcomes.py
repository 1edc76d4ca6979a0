"""Per play: outcome conversion, time to outcome and the holdout arms' lift (definitions in
`connector/report/queries.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import FromClause

from connector.domain.plays import Outcome
from connector.engine.decisions import HOLDOUT_TREATED
from connector.report.lift import holdout_lift
from connector.report.model import HOLDOUT, NONE_KEY, GroupBy, PlayOutcome, Scope
from connector.report.sql import (
    count_where,
    describe_outcome,
    first_outbound_by_group,
    outcome_condition,
    percentiles,
    seconds_between,
)
from connector.store import tables as tb


def play_outcomes(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> list[PlayOutcome]:
    """Outcome conversion, time to outcome and holdout lift, per play."""
    play_scope = replace(scope, by=GroupBy.PLAY)
    fo = first_outbound_by_group(play_scope)
    cs = tb.contact_state.alias("cs")
    on_cs = sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id)
    converted = _converted(fo.c.key, cs, outcomes, scope.meeting)
    counts = {
        r[0]: (int(r[1]), int(r[2]))
        for r in conn.execute(
            sa.select(fo.c.key, sa.func.count(), count_where(converted))
            .select_from(fo.outerjoin(cs, on_cs))
            .group_by(fo.c.key)
        )
    }
    outcome_at = _outcome_at(fo, cs, outcomes, scope)
    secs = seconds_between(conn.dialect.name, fo.c.first_at, outcome_at)
    sub = (
        sa.select(fo.c.key.label("key"), secs.label("value"))
        .select_from(fo.join(cs, on_cs))
        .where(converted, outcome_at.is_not(None), outcome_at >= fo.c.first_at)
        .subquery("to_outcome")
    )
    velocity = percentiles(conn, sub)
    arms = _arms(conn, scope, outcomes)
    names = sorted((counts.keys() | arms.keys() | outcomes.keys()) - {NONE_KEY})
    result = []
    for name in names:
        n, x = counts.get(name, (0, 0))
        (n1, x1), (n0, x0) = (
            arms.get(name, {}).get("exposed", (0, 0)),
            arms.get(name, {}).get("holdout", (0, 0)),
        )
        pct = velocity.get(name, {})
        result.append(
            PlayOutcome(
                play=name,
                outcome=describe_outcome(outcomes.get(name), scope.meeting),
                contacts=n,
                converted=x,
                time_to_outcome_p50_s=pct.get(50),
                time_to_outcome_p90_s=pct.get(90),
                lift=holdout_lift(x1, n1, x0, n0),
            )
        )
    return result


def _converted(key: Any, cs: Any, outcomes: Mapping[str, Outcome], meeting: Sequence[str]) -> Any:
    default = outcome_condition(None, cs, meeting)
    if not outcomes:
        return default
    whens = [(key == name, outcome_condition(o, cs, meeting)) for name, o in outcomes.items()]
    return sa.case(*whens, else_=default) == sa.true()


def _outcome_at(fo: FromClause, cs: Any, outcomes: Mapping[str, Outcome], scope: Scope) -> Any:
    """When the contact reached the play's outcome (see the module docstring)."""
    co = tb.crm_outbox
    disp = co.c.fields["disposition"].as_string()

    def first_write(names: Sequence[str]) -> Any:
        return (
            sa.select(sa.func.min(co.c.created_at))
            .where(
                co.c.target_type == fo.c.contact_type,
                co.c.target_id == fo.c.contact_id,
                co.c.kind == "field_update",
                disp.in_(list(names)),
                co.c.created_at >= fo.c.first_at,
                *scope.before_end(co.c.created_at),
            )
            .correlate(fo)
            .scalar_subquery()
        )

    whens = []
    for name, o in outcomes.items():
        if o.condition is not None:
            whens.append((fo.c.key == name, cs.c.crm_modstamp))
        elif o.disposition is not None:
            whens.append((fo.c.key == name, first_write([o.disposition])))
    default = first_write(scope.meeting)
    return sa.case(*whens, else_=default) if whens else default


def _arms(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per play and arm (exposed, holdout): (contacts, converted)."""
    d = tb.decision_log
    text = sa.cast(d.c.reasons, sa.Text)
    arm = sa.case(
        (text.like(f'%"{HOLDOUT_TREATED}"%'), "exposed"),
        (text.like(f'%"{HOLDOUT}"%'), "holdout"),
    )
    members = (
        sa.select(d.c.play, d.c.contact_type, d.c.contact_id, arm.label("arm"))
        .where(d.c.play.is_not(None), d.c.contact_id.is_not(None), *scope.clip(d.c.at))
        .distinct()
        .subquery("arms")
    )
    cs = tb.contact_state.alias("cs")
    converted = _converted(members.c.play, cs, outcomes, scope.meeting)
    stmt = (
        sa.select(members.c.play, members.c.arm, sa.func.count(), count_where(converted))
        .select_from(
            members.outerjoin(
                cs,
                sa.and_(
                    cs.c.crm_object_type == members.c.contact_type,
                    cs.c.crm_id == members.c.contact_id,
                ),
            )
        )
        .where(members.c.arm.is_not(None))
        .group_by(members.c.play, members.c.arm)
    )
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for play, arm_name, n, x in conn.execute(stmt):
        out.setdefault(play, {})[arm_name] = (int(n), int(x))
    return out
