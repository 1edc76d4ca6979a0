"""SQL building blocks of the report's figures: durations and days per dialect, the group
key of a row, nearest-rank percentiles ranked in SQL, when a rep answered a reply, and a
play's outcome as a condition on contact_state. Read-only, like every report query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from connector.domain.plays import Outcome, PredicateOp
from connector.store import tables as tb
from connector.store.report_scope import (
    ALL_KEY,
    CONTACT_COLUMNS,
    NONE_KEY,
    GroupBy,
    Scope,
)


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[int]:
    """Whole seconds from start to end."""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", end), sa.Integer) - sa.cast(
            sa.func.strftime("%s", start), sa.Integer
        )
    return sa.cast(sa.func.floor(sa.extract("epoch", end)), sa.BigInteger) - sa.cast(
        sa.func.floor(sa.extract("epoch", start)), sa.BigInteger
    )


def utc_day(dialect: str, col: Any) -> ColumnElement[str]:
    if dialect == "sqlite":
        return sa.func.date(col)
    return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD")


def reasons_table(dialect: str, col: Any) -> Any:
    fn = sa.func.json_each if dialect == "sqlite" else sa.func.json_array_elements_text
    return fn(col).table_valued("value").alias("reason")


def all_key() -> ColumnElement[str]:
    return sa.literal_column(f"'{ALL_KEY}'", sa.String)


def _contact_key(scope: Scope, cs: Any) -> ColumnElement[str]:
    by = scope.by
    expr: Any
    if by is GroupBy.TEAM:
        expr = cs.c.owner_team
    elif by is GroupBy.OWNER:
        expr = cs.c.owner_id
    else:
        expr = cs.c.segments[scope.segment].as_string()
    return sa.func.coalesce(expr, NONE_KEY)


def keyed(
    scope: Scope, src: FromClause, ctype: Any, cid: Any, play: Any = None
) -> tuple[ColumnElement[str], FromClause]:
    """The group key of rows of `src` and the FROM clause that provides it."""
    if scope.by is None:
        return all_key(), src
    if scope.by is GroupBy.PLAY:
        assert play is not None
        return sa.func.coalesce(play, NONE_KEY), src
    cs = tb.contact_state.alias("cs_key")
    joined = src.outerjoin(cs, sa.and_(cs.c.crm_object_type == ctype, cs.c.crm_id == cid))
    return _contact_key(scope, cs), joined


def grouped(scope: Scope, *cols: Any) -> list[Any]:
    return [c for c in cols if scope.by is not None or c is not cols[0]]


def percentiles(
    conn: sa.Connection, sub: Subquery, ps: Sequence[int] = (50, 90)
) -> dict[str, dict[int, int]]:
    """Nearest-rank percentiles of ``sub.c.value`` per ``sub.c.key``, ranked in SQL."""
    rn = sa.func.row_number().over(partition_by=sub.c.key, order_by=sub.c.value)
    n = sa.func.count().over(partition_by=sub.c.key)
    ranked = sa.select(sub.c.key, sub.c.value, rn.label("rn"), n.label("n")).subquery("ranked")
    ranks = [(ranked.c.n * p + 99) // 100 for p in ps]
    rows = conn.execute(
        sa.select(ranked.c.key, ranked.c.value, ranked.c.rn, ranked.c.n).where(
            sa.or_(*(ranked.c.rn == r for r in ranks))
        )
    ).all()
    out: dict[str, dict[int, int]] = {}
    for row in rows:
        for p in ps:
            if row.rn == (row.n * p + 99) // 100:
                out.setdefault(row.key, {})[p] = int(row.value)
    return out


# a person's text: a manual send through smsync, or a rep's text from the CRM (the outbox
# key prefixes of connector/engine/outbox_keys.py)
HUMAN_KEYS = ("manual:%", "rep:%")


def answered_at(t: Any) -> Any:
    """When a rep first answered the reply that opened SLA timer `t`: the timer's met time
    (a person's text or the follow-up task completed), else, for a timer that breached,
    the first person's text to the contact after it started (a late answer): a manual send
    through smsync or a rep's text from the CRM (HUMAN_KEYS)."""
    o = tb.sms_outbox.alias("answer")
    manual = (
        sa.select(sa.func.min(o.c.done_at))
        .where(
            o.c.contact_type == t.c.contact_type,
            o.c.contact_id == t.c.contact_id,
            sa.or_(*(o.c.idempotency_key.like(key) for key in HUMAN_KEYS)),
            o.c.state == "sent",
            o.c.done_at >= t.c.started,
        )
        .correlate(t)
        .scalar_subquery()
    )
    return sa.func.coalesce(t.c.met, manual)


def outcome_condition(outcome: Outcome | None, cs: Any, meeting: Sequence[str]) -> Any:
    """The play's outcome as a SQL condition on a contact_state row (see Outcome.met)."""
    if outcome is None or (outcome.condition is None and outcome.disposition is None):
        return cs.c.disposition.in_(list(meeting))
    if outcome.condition is None:
        return cs.c.disposition == outcome.disposition
    pred = outcome.condition
    col: Any = (
        cs.c[pred.field] if pred.field in CONTACT_COLUMNS else cs.c.segments[pred.field].as_string()
    )
    present = sa.and_(col.is_not(None), col != "")
    match pred.op:
        case PredicateOp.IS_SET:
            return present
        case PredicateOp.IS_EMPTY:
            return sa.not_(present)
        case PredicateOp.EQUALS | PredicateOp.IN:
            return sa.and_(present, col.in_(list(pred.values)))
        case PredicateOp.NOT_EQUALS | PredicateOp.NOT_IN:
            return sa.not_(sa.and_(present, col.in_(list(pred.values))))


def count_where(cond: Any) -> ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)
