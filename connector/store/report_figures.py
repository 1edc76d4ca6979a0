"""The report's figures per group: sends, messaged contacts and their replies, meetings and
opt-outs, the disposition mix, SLA timers, blocked reasons and the opt-out trend. Each is
one read-only SQL aggregate returning plain rows (the definitions are in
`connector/report/queries.py`, which assembles them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from connector.store import tables as tb
from connector.store.report_first_texts import (
    first_outbound_by_group,
    meeting_after,
    opted_within,
    reached,
)
from connector.store.report_scope import (
    BUCKETS,
    CRM_SOURCE,
    DELIVERED,
    OPT_OUT_WINDOW_S,
    OPTED_OUT,
    GroupBy,
    Scope,
)
from connector.store.report_sql import (
    answered_at,
    count_where,
    grouped,
    keyed,
    percentiles,
    reasons_table,
    seconds_between,
    utc_day,
)


def sends(conn: sa.Connection, scope: Scope) -> dict[str, tuple[int, int]]:
    """Per group: (attempted, delivered) outbound messages."""
    m = tb.messages
    where = [m.c.direction == "outbound", *scope.clip(m.c.created_at)]
    delivered = count_where(m.c.status.in_(DELIVERED))
    stmt: sa.Executable
    if scope.by is None or scope.by is GroupBy.PLAY:
        key, src = keyed(scope, m, m.c.contact_type, m.c.contact_id, m.c.play)
        stmt = (
            sa.select(key.label("key"), sa.func.count(), delivered)
            .select_from(src)
            .where(*where)
            .group_by(*grouped(scope, key))
        )
    else:  # count per contact first: the contact's group is then one join per contact
        ref = (m.c.contact_type, m.c.contact_id)
        per = (
            sa.select(*ref, sa.func.count().label("n"), delivered.label("d"))
            .where(*where)
            .group_by(*ref)
            .subquery("per_contact")
        )
        key, src = keyed(scope, per, per.c.contact_type, per.c.contact_id)
        stmt = (
            sa.select(key.label("key"), sa.func.sum(per.c.n), sa.func.sum(per.c.d))
            .select_from(src)
            .group_by(key)
        )
    return {row[0]: (int(row[1]), int(row[2])) for row in conn.execute(stmt)}


def contact_figures(conn: sa.Connection, scope: Scope) -> dict[str, tuple[int, int, int, int, int]]:
    """Per group: (texted contacts, reached, replied, meetings, opted out), each of the
    last four a subset of the first."""
    fo = first_outbound_by_group(scope)
    inb = tb.messages.alias("inb")
    cs = tb.contact_state.alias("cs")
    replied = (
        sa.exists()
        .where(
            inb.c.contact_type == fo.c.contact_type,
            inb.c.contact_id == fo.c.contact_id,
            inb.c.direction == "inbound",
            inb.c.created_at > fo.c.first_at,
            *scope.before_end(inb.c.created_at),
        )
        .correlate(fo)
    )
    stmt = (
        sa.select(
            fo.c.key,
            sa.func.count(),
            count_where(reached(fo)),
            count_where(replied),
            count_where(meeting_after(scope, fo, cs, conn.dialect.name)),
            count_where(opted_within(scope, fo, conn.dialect.name)),
        )
        .select_from(
            fo.outerjoin(
                cs,
                sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id),
            )
        )
        .group_by(fo.c.key)
    )
    return {r[0]: tuple(int(v) for v in r[1:]) for r in conn.execute(stmt)}  # type: ignore[misc]


def group_names(conn: sa.Connection, scope: Scope, name_key: str) -> dict[str, str]:
    """Owner id -> the owner's name, as the pull stored it in segment `name_key` (the CRM's
    user directory, see `connector/engine/owners.py`); other groupings are named by their
    key."""
    if scope.by is not GroupBy.OWNER:
        return {}
    cs = tb.contact_state
    name = sa.func.max(cs.c.segments[name_key].as_string())
    rows = conn.execute(
        sa.select(cs.c.owner_id, name).where(cs.c.owner_id.is_not(None)).group_by(cs.c.owner_id)
    )
    return {str(owner): str(n) for owner, n in rows if n}


def inbound_only_opt_outs(conn: sa.Connection, scope: Scope) -> int:
    """Numbers that opted out in the period (not from the CRM) without a text to them in
    the window before: strangers and people never texted. Reported apart from the rate."""
    cl, m = tb.consent_ledger, tb.messages
    texted_before = sa.exists().where(
        m.c.to_number == cl.c.phone,
        m.c.direction == "outbound",
        m.c.created_at <= cl.c.at,
        seconds_between(conn.dialect.name, m.c.created_at, cl.c.at) <= OPT_OUT_WINDOW_S,
    )
    stmt = sa.select(sa.func.count(sa.distinct(cl.c.phone))).where(
        cl.c.status == OPTED_OUT,
        cl.c.source != CRM_SOURCE,
        sa.not_(texted_before),
        *scope.clip(cl.c.at),
    )
    return int(conn.execute(stmt).scalar_one())


# a texted contact with no disposition has not replied (a reply always sets one)
NO_REPLY = "no reply"


def disposition_mix(conn: sa.Connection, scope: Scope) -> dict[str, dict[str, int]]:
    fo = first_outbound_by_group(scope)
    cs = tb.contact_state.alias("cs")
    disp = sa.func.coalesce(cs.c.disposition, NO_REPLY)
    stmt = (
        sa.select(fo.c.key, disp.label("disposition"), sa.func.count())
        .select_from(
            fo.outerjoin(
                cs,
                sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id),
            )
        )
        .group_by(fo.c.key, disp)
    )
    out: dict[str, dict[str, int]] = {}
    for key, name, count in conn.execute(stmt):
        out.setdefault(key, {})[name] = int(count)
    return out


def _timers(scope: Scope) -> tuple[ColumnElement[str], FromClause]:
    t = tb.sla_timers
    if scope.by is GroupBy.PLAY:
        fo = first_outbound_by_group(scope)
        joined = t.join(
            fo, sa.and_(fo.c.contact_type == t.c.contact_type, fo.c.contact_id == t.c.contact_id)
        )
        return fo.c.key, joined
    return keyed(scope, t, t.c.contact_type, t.c.contact_id)


def sla_figures(
    conn: sa.Connection, scope: Scope
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[int, int]]]:
    """Per group: (closed timers, met on time), and the wall-clock response percentiles."""
    t = tb.sla_timers
    key, src = _timers(scope)
    closed = sa.or_(t.c.met.is_not(None), t.c.breached.is_not(None))
    stmt = (
        sa.select(
            key.label("key"),
            sa.func.count(),
            count_where(sa.and_(t.c.met.is_not(None), t.c.met <= t.c.due)),
        )
        .select_from(src)
        .where(closed, *scope.clip(t.c.started))
        .group_by(*grouped(scope, key))
    )
    counts = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(stmt)}
    answer = answered_at(t)
    secs = seconds_between(conn.dialect.name, t.c.started, answer)
    sub = (
        sa.select(key.label("key"), secs.label("value"))
        .select_from(src)
        .where(answer.is_not(None), *scope.clip(t.c.started))
        .subquery("response")
    )
    return counts, percentiles(conn, sub)


def answered_timers(
    conn: sa.Connection, scope: Scope
) -> list[tuple[str, str | None, datetime, datetime]]:
    """(group, owner team, started, answered) of the answered timers started in the period,
    for the response in business hours: calendars are Python (zones, holidays), so these
    rows are read once; there are far fewer than texts."""
    key, src = _timers(scope)
    t, cs = tb.sla_timers, tb.contact_state.alias("cs_team")
    answer = answered_at(t)
    rows = conn.execute(
        sa.select(key.label("key"), cs.c.owner_team, t.c.started, answer)
        .select_from(
            src.outerjoin(
                cs, sa.and_(cs.c.crm_object_type == t.c.contact_type, cs.c.crm_id == t.c.contact_id)
            )
        )
        .where(answer.is_not(None), *scope.clip(t.c.started))
    )
    return [(str(group), team, started, met) for group, team, started, met in rows]


def response_histogram(conn: sa.Connection, scope: Scope) -> list[tuple[str, int]]:
    """Met timers started in the period, by response time bucket (all groups together)."""
    t = tb.sla_timers
    answer = answered_at(t)
    secs = seconds_between(conn.dialect.name, t.c.started, answer)
    whens = [(secs < bound, i) for i, (bound, _) in enumerate(BUCKETS) if bound is not None]
    bucket = sa.case(*whens, else_=len(BUCKETS) - 1)
    stmt = (
        sa.select(bucket.label("bucket"), sa.func.count())
        .where(answer.is_not(None), *scope.clip(t.c.started))
        .group_by(bucket)
    )
    counts = {int(b): int(n) for b, n in conn.execute(stmt)}
    return [(label, counts.get(i, 0)) for i, (_, label) in enumerate(BUCKETS)]


def blocked_reasons(conn: sa.Connection, scope: Scope) -> dict[str, dict[str, int]]:
    """Per group: blocked decisions per reason (two reasons on one decision count twice)."""
    d = tb.decision_log
    key, src = keyed(scope, d, d.c.contact_type, d.c.contact_id, d.c.play)
    reason = reasons_table(conn.dialect.name, d.c.reasons)
    stmt = (
        sa.select(key.label("key"), reason.c.value, sa.func.count())
        .select_from(src.join(reason, sa.true()))
        .where(d.c.verdict == "block", *scope.clip(d.c.at))
        .group_by(*grouped(scope, key, reason.c.value))
    )
    out: dict[str, dict[str, int]] = {}
    for key_value, code, count in conn.execute(stmt):
        out.setdefault(key_value, {})[str(code)] = int(count)
    return out


def opt_out_trend(conn: sa.Connection, scope: Scope) -> list[tuple[str, int, int]]:
    """Per UTC day: contacts first texted that day, and how many of them opted out within
    the window after a text (the opt-out rate's definition, by day of first text)."""
    fo = first_outbound_by_group(replace(scope, by=None))
    day = utc_day(conn.dialect.name, fo.c.first_at)
    stmt = (
        sa.select(
            day,
            sa.func.count(),
            count_where(opted_within(replace(scope, by=None), fo, conn.dialect.name)),
        )
        .group_by(day)
        .order_by(day)
    )
    return [(str(d), int(n), int(x)) for d, n, x in conn.execute(stmt)]
