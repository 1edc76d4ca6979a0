"""Pipeline figures, read-only: the CRM's opportunities tied to texted contacts (definitions in
`connector/report/queries.py`). An opportunity counts for a contact when the contact is
linked to it (contact role, deal association) and it was created within the window after
the contact's anchor (first text, or first holdout decision)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import FromClause

from connector.store import tables as tb
from connector.store.coltypes import UtcDateTime
from connector.store.report_scope import PipelineDefs, Scope
from connector.store.report_scratch import scratch
from connector.store.report_sql import count_where, seconds_between


def _reached(o: Any, stages: Sequence[str]) -> Any:
    """The opportunity is, or once was, in one of `stages` (its stage history)."""
    if not stages:
        return sa.false()
    h = tb.opportunity_stages
    was = sa.exists().where(h.c.opportunity_id == o.c.crm_id, h.c.stage.in_(list(stages)))
    return sa.or_(o.c.stage.in_(list(stages)), was)


def is_opportunity(p: PipelineDefs, o: Any) -> Any:
    return _reached(o, [*p.opportunity, *p.won]) if p.opportunity else sa.true()


def is_won(p: PipelineDefs, o: Any) -> Any:
    return sa.or_(o.c.is_won == sa.true(), o.c.stage.in_(list(p.won)))


def is_closed(p: PipelineDefs, o: Any) -> Any:
    return sa.or_(o.c.is_closed == sa.true(), o.c.stage.in_([*p.won, *p.lost]))


def meeting_stages(p: PipelineDefs) -> list[str]:
    """The mapped stages at or past "meeting held": a contact there has had a meeting."""
    return [*p.meeting_held, *p.opportunity, *p.won]


def _in_window(scope: Scope, fo: FromClause, at: Any, dialect: str) -> list[Any]:
    """`at` is at or after `fo.first_at`, within the window and before the period ends."""
    return [
        at >= fo.c.first_at,
        seconds_between(dialect, fo.c.first_at, at) <= scope.pipeline.window_days * 86400,
        *scope.before_end(at),
    ]


# When each contact's pipeline showed a meeting (see `meeting_in_pipeline`): one row per
# linked opportunity created at or past a meeting stage ("created") and per entry of one
# into such a stage ("entered"). Filled once per report by `fill_pipeline_meetings` (few
# rows: opportunities are far fewer than texts), then probed per row through its index
# instead of joining links, opportunities and stage history for every texted contact.
PIPELINE_MEETINGS = sa.Table(
    "report_pipeline_meetings",
    scratch,
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_report_pipeline_meetings_contact", "contact_type", "contact_id", "at"),
    prefixes=["TEMPORARY"],
)
CREATED, ENTERED = "created", "entered"


def fill_pipeline_meetings(conn: sa.Connection, scope: Scope) -> None:
    """Fill PIPELINE_MEETINGS (created by the caller with the report's other scratch
    tables) with every meeting event of the linked, undeleted opportunities; the window
    after each row's first text is applied when probing, as it depends on the row."""
    p = scope.pipeline
    stages = meeting_stages(p)
    oc, o, pm = tb.opportunity_contacts, tb.opportunities, PIPELINE_MEETINGS
    joined = oc.join(o, o.c.crm_id == oc.c.opportunity_id)
    cols = ["contact_type", "contact_id", "kind", "at"]
    conn.execute(
        sa.insert(pm).from_select(
            cols,
            sa.select(oc.c.contact_type, oc.c.contact_id, sa.literal(CREATED), o.c.created_at)
            .select_from(joined)
            .where(
                o.c.deleted == sa.false(),
                *scope.before_end(o.c.created_at),
                sa.or_(_reached(o, stages), is_opportunity(p, o)),
            ),
        )
    )
    if stages:
        h = tb.opportunity_stages
        conn.execute(
            sa.insert(pm).from_select(
                cols,
                sa.select(oc.c.contact_type, oc.c.contact_id, sa.literal(ENTERED), h.c.at)
                .select_from(joined.join(h, h.c.opportunity_id == o.c.crm_id))
                .where(o.c.deleted == sa.false(), h.c.stage.in_(stages), *scope.before_end(h.c.at)),
            )
        )


def _events(scope: Scope, fo: FromClause, dialect: str, alias: str) -> tuple[Any, list[Any]]:
    """PIPELINE_MEETINGS rows of `fo`'s contact in the window after `fo.first_at`."""
    pm = PIPELINE_MEETINGS.alias(alias)
    return pm, [
        pm.c.contact_type == fo.c.contact_type,
        pm.c.contact_id == fo.c.contact_id,
        *_in_window(scope, fo, pm.c.at, dialect),
    ]


def meeting_in_pipeline(scope: Scope, fo: FromClause, dialect: str) -> Any:
    """The contact's pipeline shows a meeting after `fo.first_at` (within the window): one
    of its opportunities entered a stage at or past meeting held then (its history), or
    was created then and is, or once was, at such a stage or counts as an opportunity (so
    every contact counted with an opportunity also counts with a meeting). One probe of
    PIPELINE_MEETINGS per row."""
    _, conds = _events(scope, fo, dialect, "pm_meet")
    return sa.exists().where(*conds).correlate(fo)


def meeting_in_pipeline_at(scope: Scope, fo: FromClause, dialect: str) -> Any:
    """When `meeting_in_pipeline` first held: the earliest entry into a stage at or past
    meeting held in the window after `fo.first_at`, else the creation of the first
    opportunity it counts (None when neither)."""

    def first(kind: str) -> Any:
        pm, conds = _events(scope, fo, dialect, f"pm_{kind}")
        return (
            sa.select(sa.func.min(pm.c.at))
            .where(*conds, pm.c.kind == kind)
            .correlate(fo)
            .scalar_subquery()
        )

    return sa.func.coalesce(first(ENTERED), first(CREATED))


def _flag(cond: Any) -> Any:
    return sa.case((cond, 1), else_=0)


def linked(scope: Scope, fo: FromClause, dialect: str) -> Any:
    """(key, contact, opportunity) rows: each anchored contact's opportunities created in
    the window after its anchor, with what each counts as."""
    p = scope.pipeline
    oc, o = tb.opportunity_contacts, tb.opportunities
    return (
        sa.select(
            fo.c.key,
            fo.c.contact_type,
            fo.c.contact_id,
            o.c.crm_id.label("opp"),
            o.c.amount,
            _flag(is_opportunity(p, o)).label("is_opp"),
            _flag(is_won(p, o)).label("won"),
            _flag(is_closed(p, o)).label("closed"),
            _flag(_reached(o, p.meeting_held)).label("held"),
        )
        .select_from(
            fo.join(
                oc,
                sa.and_(oc.c.contact_type == fo.c.contact_type, oc.c.contact_id == fo.c.contact_id),
            ).join(o, o.c.crm_id == oc.c.opportunity_id)
        )
        .where(
            o.c.deleted == sa.false(),
            o.c.created_at >= fo.c.first_at,
            seconds_between(dialect, fo.c.first_at, o.c.created_at) <= p.window_days * 86400,
            *scope.before_end(o.c.created_at),
        )
        .subquery("linked")
    )


def has_opportunity(scope: Scope, fo: FromClause, dialect: str) -> Any:
    """The row's contact has an opportunity created in the window after `fo.first_at`
    (a correlated probe: one index lookup per row)."""
    p = scope.pipeline
    oc, o = tb.opportunity_contacts.alias("oc_any"), tb.opportunities.alias("o_any")
    return (
        sa.exists()
        .select_from(oc.join(o, o.c.crm_id == oc.c.opportunity_id))
        .where(
            oc.c.contact_type == fo.c.contact_type,
            oc.c.contact_id == fo.c.contact_id,
            o.c.deleted == sa.false(),
            o.c.created_at >= fo.c.first_at,
            seconds_between(dialect, fo.c.first_at, o.c.created_at) <= p.window_days * 86400,
            is_opportunity(p, o),
            *scope.before_end(o.c.created_at),
        )
        .correlate(fo)
    )


def contact_pipeline(
    conn: sa.Connection, scope: Scope, fo: FromClause
) -> dict[str, tuple[int, int, int]]:
    """Per group: anchored contacts with (an opportunity, a won one, a meeting held)."""
    lk = linked(scope, fo, conn.dialect.name)
    per = (
        sa.select(
            lk.c.key,
            sa.func.max(lk.c.is_opp).label("opp"),
            sa.func.max(lk.c.won * lk.c.is_opp).label("won"),
            sa.func.max(lk.c.held).label("held"),
        )
        .group_by(lk.c.key, lk.c.contact_type, lk.c.contact_id)
        .subquery("per_contact")
    )
    stmt = sa.select(
        per.c.key, sa.func.sum(per.c.opp), sa.func.sum(per.c.won), sa.func.sum(per.c.held)
    ).group_by(per.c.key)
    return {k: (int(a or 0), int(b or 0), int(c or 0)) for k, a, b, c in conn.execute(stmt)}


def opportunity_figures(
    conn: sa.Connection, scope: Scope, fo: FromClause
) -> dict[str, tuple[int, int, int, float]]:
    """Per group: distinct opportunities influenced, won, closed, and their amount."""
    lk = linked(scope, fo, conn.dialect.name)
    opps = (
        sa.select(lk.c.key, lk.c.opp, lk.c.amount, lk.c.won, lk.c.closed)
        .where(lk.c.is_opp == 1)
        .distinct()
        .subquery("opps")
    )
    stmt = sa.select(
        opps.c.key,
        sa.func.count(),
        count_where(opps.c.won == 1),
        count_where(opps.c.closed == 1),
        sa.func.coalesce(sa.func.sum(opps.c.amount), 0.0),
    ).group_by(opps.c.key)
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in conn.execute(stmt)}


MILESTONES = ("created", "meeting held", "opportunity", "won")


def milestones(conn: sa.Connection, scope: Scope, fo: FromClause) -> list[dict[str, datetime]]:
    """For each influenced opportunity, when it first entered each milestone of MILESTONES
    (created, then the mapped meeting-held, opportunity and won stages, from its history);
    the report takes the medians between consecutive ones."""
    p = scope.pipeline
    lk = linked(scope, fo, conn.dialect.name)
    o, h = tb.opportunities, tb.opportunity_stages
    ids = sa.select(lk.c.opp).distinct().scalar_subquery()
    entered: dict[str, dict[str, datetime]] = {}
    for opp, created in conn.execute(
        sa.select(o.c.crm_id, o.c.created_at).where(o.c.crm_id.in_(ids))
    ):
        entered.setdefault(opp, {})["created"] = created
    milestone = dict.fromkeys(p.meeting_held, "meeting held")
    milestone |= dict.fromkeys(p.opportunity, "opportunity")
    milestone |= dict.fromkeys(p.won, "won")
    rows = conn.execute(
        sa.select(h.c.opportunity_id, h.c.stage, h.c.at).where(h.c.opportunity_id.in_(ids))
    )
    for opp, stage, at in rows:
        name = milestone.get(stage)
        if name is not None:
            seen = entered.setdefault(opp, {})
            seen[name] = min(at, seen.get(name, at))
    return list(entered.values())
