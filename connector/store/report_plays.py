"""Per play, read-only: outcome conversion, time to outcome, and the holdout arms' counts
(contacts, texted, converted, replied, meetings, opportunities) that the report's lift is
computed from (definitions in `connector/report/queries.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import FromClause

from connector.domain.plays import Outcome
from connector.store import tables as tb
from connector.store.report_first_texts import (
    FIRST_OUT_PLAY,
    first_outbound_by_group,
    meeting_after,
    set_after,
)
from connector.store.report_pipeline import has_opportunity, meeting_in_pipeline_at
from connector.store.report_scope import GroupBy, Scope
from connector.store.report_sql import (
    count_where,
    outcome_condition,
    percentiles,
    seconds_between,
)


def play_counts(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[int, int]]]:
    """Per play: (texted contacts, converted), and the time-to-outcome percentiles."""
    play_scope = replace(scope, by=GroupBy.PLAY)
    fo = first_outbound_by_group(play_scope)
    cs = tb.contact_state.alias("cs")
    on_cs = sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id)
    converted = _converted(fo, cs, outcomes, scope, conn.dialect.name)
    counts = {
        r[0]: (int(r[1]), int(r[2]))
        for r in conn.execute(
            sa.select(fo.c.key, sa.func.count(), count_where(converted))
            .select_from(fo.outerjoin(cs, on_cs))
            .group_by(fo.c.key)
        )
    }
    outcome_at = _outcome_at(fo, cs, outcomes, scope, conn.dialect.name)
    secs = seconds_between(conn.dialect.name, fo.c.first_at, outcome_at)
    sub = (
        sa.select(fo.c.key.label("key"), secs.label("value"))
        .select_from(fo.join(cs, on_cs))
        .where(converted, outcome_at.is_not(None), outcome_at >= fo.c.first_at)
        .subquery("to_outcome")
    )
    return counts, percentiles(conn, sub)


def _is_meeting(o: Outcome | None) -> bool:
    """The outcome is "a meeting" (none configured, or one that names nothing)."""
    return o is None or (o.condition is None and o.disposition is None)


def _converted(
    fo: FromClause, cs: Any, outcomes: Mapping[str, Outcome], scope: Scope, dialect: str
) -> Any:
    """The contact meets its play's outcome now, and reached it after `fo.first_at` (the
    record changed then); an outcome already met before the play is no conversion. A play
    without an outcome converts on a meeting, as the meeting rate counts one."""
    meeting = meeting_after(scope, fo, cs, dialect)
    written = sorted({*scope.meeting, *(o.disposition for o in outcomes.values() if o.disposition)})
    after = set_after(scope, fo, cs, written)
    whens = [
        (fo.c.key == name, sa.and_(outcome_condition(o, cs, scope.meeting), after))
        for name, o in outcomes.items()
        if not _is_meeting(o)
    ]
    return sa.case(*whens, else_=meeting) == sa.true() if whens else meeting


def _earliest(a: Any, b: Any) -> Any:
    return sa.case((a.is_(None), b), (b.is_(None), a), (a <= b, a), else_=b)


def _outcome_at(
    fo: FromClause, cs: Any, outcomes: Mapping[str, Outcome], scope: Scope, dialect: str
) -> Any:
    """When the contact reached the play's outcome (see the module docstring): a meeting's
    time is the first write of a meeting disposition or the pipeline's first meeting
    stage after the first text, whichever came first."""
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
    default = _earliest(first_write(scope.meeting), meeting_in_pipeline_at(scope, fo, dialect))
    return sa.case(*whens, else_=default) if whens else default


@dataclass(frozen=True, slots=True)
class Arm:
    n: int
    texted: int
    converted: int
    replied: int
    meetings: int
    opportunities: int


def arms(
    conn: sa.Connection,
    scope: Scope,
    outcomes: Mapping[str, Outcome],
    reasons: tuple[str, str],
) -> dict[str, dict[str, Arm]]:
    """Per play and arm (exposed, holdout): its contacts, those texted, and those that
    converted, replied or had a meeting after their first decision in the arm. `reasons`
    are the decision reasons that put a contact in the (exposed, holdout) arm."""
    treated_reason, holdout_reason = reasons
    d = tb.decision_log
    text = sa.cast(d.c.reasons, sa.Text)
    arm = sa.case(
        (text.like(f'%"{treated_reason}"%'), "exposed"),
        (text.like(f'%"{holdout_reason}"%'), "holdout"),
    )
    members = (
        sa.select(
            d.c.play.label("key"),
            d.c.contact_type,
            d.c.contact_id,
            arm.label("arm"),
            sa.func.min(d.c.at).label("first_at"),
        )
        .where(d.c.play.is_not(None), d.c.contact_id.is_not(None), *scope.clip(d.c.at))
        .group_by(d.c.play, d.c.contact_type, d.c.contact_id, arm)
        .subquery("arms")
    )
    cs = tb.contact_state.alias("cs")
    fp, inb = FIRST_OUT_PLAY, tb.messages.alias("inb")
    texted = sa.exists().where(
        fp.c.key == members.c.key,
        fp.c.contact_type == members.c.contact_type,
        fp.c.contact_id == members.c.contact_id,
    )
    replied = sa.exists().where(
        inb.c.contact_type == members.c.contact_type,
        inb.c.contact_id == members.c.contact_id,
        inb.c.direction == "inbound",
        inb.c.created_at > members.c.first_at,
        *scope.before_end(inb.c.created_at),
    )
    converted = _converted(members, cs, outcomes, scope, conn.dialect.name)
    has_opp = has_opportunity(scope, members, conn.dialect.name)
    stmt = (
        sa.select(
            members.c.key,
            members.c.arm,
            sa.func.count(),
            count_where(texted),
            count_where(converted),
            count_where(replied),
            count_where(meeting_after(scope, members, cs, conn.dialect.name)),
            count_where(has_opp),
        )
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
        .group_by(members.c.key, members.c.arm)
    )
    out: dict[str, dict[str, Arm]] = {}
    for play, arm_name, *figures in conn.execute(stmt):
        out.setdefault(play, {})[arm_name] = Arm(*(int(v) for v in figures))
    return out
