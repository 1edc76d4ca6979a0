"""Per play: contacts messaged with it and how many met its outcome, the time to that
outcome, and the holdout arms' counts, each one SQL aggregate (definitions in
`connector/report/queries.py`; the lift is computed in `connector/report/play_outcomes.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import FromClause

from connector.domain.plays import Outcome
from connector.store import tables as tb
from connector.store.report_scope import HOLDOUT, GroupBy, Scope
from connector.store.report_sql import (
    count_where,
    first_outbound_by_group,
    outcome_condition,
    percentiles,
    seconds_between,
)


def conversions(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[int, int]]]:
    """Per play: (contacts, converted), and the p50/p90 seconds from the first outbound to
    the outcome of the converted ones."""
    fo = first_outbound_by_group(replace(scope, by=GroupBy.PLAY))
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
    return counts, percentiles(conn, sub)


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


def arms(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome], *, exposed: str
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per play and arm (exposed, holdout): (contacts, converted). A contact is in the
    exposed arm when a decision about it carries the reason `exposed`, in the holdout arm
    when one carries `HOLDOUT`."""
    d = tb.decision_log
    text = sa.cast(d.c.reasons, sa.Text)
    arm = sa.case(
        (text.like(f'%"{exposed}"%'), "exposed"),
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
