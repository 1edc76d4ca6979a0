"""The report's figures, each one SQL aggregate over the store (SQLAlchemy Core).

Nothing here loops over data rows in Python: every query returns one row per group (or per
group and reason, disposition or day), and Python only arranges those rows.

Definitions (a period is ``since`` inclusive to ``until`` exclusive, both optional):

- **attempted / delivered / contact rate**: outbound messages created in the period;
  delivered are those whose status is ``delivered`` or ``read``; contact rate =
  delivered / attempted.
- **messaged contacts**: contacts (the message's CRM ref) with at least one outbound
  message in the period; their *first* outbound in the period anchors the rates below.
- **reply rate**: messaged contacts with an inbound message (tied to the same contact)
  after that first outbound and before the period ends, over messaged contacts.
- **disposition mix**: messaged contacts by their current disposition (``(none)`` if unset).
- **meeting rate**: messaged contacts whose current disposition is a meeting disposition
  (``confirmed`` or ``meeting_booked`` by default), over messaged contacts.
- **opt-out rate**: messaged contacts whose texted number has an ``opted_out`` consent
  ledger entry at or after their first outbound and before the period ends, over messaged
  contacts.
- **time to first response**: from the SLA timers, which the engine opens when an inbound
  text needs a person and meets on the first reply to it. Timers *started* in the period;
  response time = ``met - started`` in whole seconds, over met timers; p50 and p90 are
  nearest-rank percentiles (the value at rank ceil(p/100 * n)). **SLA met %** = timers met
  no later than their due time, over timers closed (met or breached); open ones are left out.
- **outcome conversion of a play**: contacts messaged with the play in the period whose
  current state meets the play's outcome (its field condition on the contact's canonical
  fields or segments, or its disposition), over those contacts. A play without a known
  outcome uses the meeting dispositions. **Time to outcome**: from the first outbound of the
  play to the first CRM write of the outcome disposition after it (disposition outcomes), or
  to the record's CRM modstamp (field outcomes: the connector keeps no field history, so
  this is the time of the last change, an upper bound); p50 and p90 as above.
- **holdout lift**: per play, contacts with a decision in the period carrying ``holdout``
  (the control arm) or ``holdout_treated`` (the exposed arm); outcome rate of each arm as
  above; lift and its interval from `connector.report.lift`.
- **blocked-send reasons**: blocked decisions in the period, counted once per reason.
- **opt-out trend**: per UTC day, ``opted_out`` ledger entries (distinct numbers) and
  outbound messages created; rate = opt-outs / messages.

Grouping (``by``): ``play`` uses the message's or decision's play; a contact-level figure
(SLA timers) counts for every play the contact was messaged with in the period. ``team``,
``owner`` and ``segment`` (one segment key) use the contact's current ``contact_state``.
Rows without a value group under ``(none)``; groups may overlap for plays."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from connector.domain.plays import Outcome, PredicateOp
from connector.engine.decisions import HOLDOUT_TREATED
from connector.report.lift import Lift, holdout_lift
from connector.store import tables as tb
from connector.store.coltypes import UtcDateTime

HOLDOUT = "holdout"
NONE_KEY = "(none)"
ALL_KEY = "all"
DELIVERED = ("delivered", "read")
MEETING_DISPOSITIONS = ("confirmed", "meeting_booked")
OPTED_OUT = "opted_out"
# canonical fields held as contact_state columns; any other outcome field is a segment
CONTACT_COLUMNS = frozenset(
    {"owner_id", "owner_team", "lifecycle_stage", "journey_state", "active_motion",
     "disposition", "consent"}
)  # fmt: skip
# response-time histogram: upper bounds in seconds, and their labels
BUCKETS: tuple[tuple[int | None, str], ...] = (
    (60, "< 1 min"),
    (300, "1-5 min"),
    (900, "5-15 min"),
    (3600, "15-60 min"),
    (4 * 3600, "1-4 h"),
    (24 * 3600, "4-24 h"),
    (None, "> 24 h"),
)


class GroupBy(StrEnum):
    PLAY = "play"
    SEGMENT = "segment"
    TEAM = "team"
    OWNER = "owner"


@dataclass(frozen=True, slots=True)
class Scope:
    """What to measure: the period, the grouping, and the vocabulary that defines a meeting."""

    since: datetime | None = None
    until: datetime | None = None
    by: GroupBy | None = None
    segment: str = "industry"
    meeting: tuple[str, ...] = MEETING_DISPOSITIONS

    def clip(self, col: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(col >= self.since)
        if self.until is not None:
            out.append(col < self.until)
        return out

    def before_end(self, col: Any) -> list[ColumnElement[bool]]:
        return [col < self.until] if self.until is not None else []


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    key: str
    attempted: int = 0
    delivered: int = 0
    contacts: int = 0
    replied: int = 0
    meetings: int = 0
    opted_out: int = 0
    sla_closed: int = 0
    sla_met: int = 0
    response_p50_s: int | None = None
    response_p90_s: int | None = None
    dispositions: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)

    @property
    def contact_rate(self) -> float | None:
        return _rate(self.delivered, self.attempted)

    @property
    def reply_rate(self) -> float | None:
        return _rate(self.replied, self.contacts)

    @property
    def meeting_rate(self) -> float | None:
        return _rate(self.meetings, self.contacts)

    @property
    def opt_out_rate(self) -> float | None:
        return _rate(self.opted_out, self.contacts)

    @property
    def sla_met_rate(self) -> float | None:
        return _rate(self.sla_met, self.sla_closed)

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "contact_rate": self.contact_rate,
            "contacts": self.contacts,
            "replied": self.replied,
            "reply_rate": self.reply_rate,
            "meetings": self.meetings,
            "meeting_rate": self.meeting_rate,
            "opted_out": self.opted_out,
            "opt_out_rate": self.opt_out_rate,
            "sla_closed": self.sla_closed,
            "sla_met": self.sla_met,
            "sla_met_rate": self.sla_met_rate,
            "response_p50_s": self.response_p50_s,
            "response_p90_s": self.response_p90_s,
            "dispositions": dict(sorted(self.dispositions.items())),
            "blocked": dict(sorted(self.blocked.items())),
        }


@dataclass(frozen=True, slots=True)
class PlayOutcome:
    play: str
    outcome: str  # how the outcome was defined, for the reader
    contacts: int
    converted: int
    time_to_outcome_p50_s: int | None
    time_to_outcome_p90_s: int | None
    lift: Lift

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.converted, self.contacts)

    def as_json(self) -> dict[str, object]:
        return {
            "play": self.play,
            "outcome": self.outcome,
            "contacts": self.contacts,
            "converted": self.converted,
            "conversion_rate": self.conversion_rate,
            "time_to_outcome_p50_s": self.time_to_outcome_p50_s,
            "time_to_outcome_p90_s": self.time_to_outcome_p90_s,
            "lift": self.lift.as_json(),
        }


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: str  # YYYY-MM-DD, UTC
    sent: int
    opt_outs: int

    @property
    def rate(self) -> float | None:
        return _rate(self.opt_outs, self.sent)


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    total: GroupMetrics
    groups: list[GroupMetrics]
    plays: list[PlayOutcome]
    opt_out_trend: list[TrendPoint]
    response_histogram: list[tuple[str, int]]

    def as_json(self) -> dict[str, object]:
        s = self.scope
        return {
            "period": {
                "since": s.since.isoformat() if s.since else None,
                "until": s.until.isoformat() if s.until else None,
            },
            "by": s.by.value if s.by else None,
            "segment": s.segment if s.by is GroupBy.SEGMENT else None,
            "total": self.total.as_json(),
            "groups": [g.as_json() for g in self.groups],
            "plays": [p.as_json() for p in self.plays],
            "opt_out_trend": [
                {"day": p.day, "sent": p.sent, "opt_outs": p.opt_outs, "rate": p.rate}
                for p in self.opt_out_trend
            ],
            "response_histogram": [{"bucket": b, "count": n} for b, n in self.response_histogram],
        }


# --- SQL building blocks ---------------------------------------------------------------


def _seconds(dialect: str, start: Any, end: Any) -> ColumnElement[int]:
    """Whole seconds from start to end."""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", end), sa.Integer) - sa.cast(
            sa.func.strftime("%s", start), sa.Integer
        )
    return sa.cast(sa.func.floor(sa.extract("epoch", end)), sa.BigInteger) - sa.cast(
        sa.func.floor(sa.extract("epoch", start)), sa.BigInteger
    )


def _day(dialect: str, col: Any) -> ColumnElement[str]:
    if dialect == "sqlite":
        return sa.func.date(col)
    return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD")


def _reasons(dialect: str, col: Any) -> Any:
    fn = sa.func.json_each if dialect == "sqlite" else sa.func.json_array_elements_text
    return fn(col).table_valued("value").alias("reason")


def _all_key() -> ColumnElement[str]:
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


def _keyed(
    scope: Scope, src: FromClause, ctype: Any, cid: Any, play: Any = None
) -> tuple[ColumnElement[str], FromClause]:
    """The group key of rows of `src` and the FROM clause that provides it."""
    if scope.by is None:
        return _all_key(), src
    if scope.by is GroupBy.PLAY:
        assert play is not None
        return sa.func.coalesce(play, NONE_KEY), src
    cs = tb.contact_state.alias("cs_key")
    joined = src.outerjoin(cs, sa.and_(cs.c.crm_object_type == ctype, cs.c.crm_id == cid))
    return _contact_key(scope, cs), joined


def _grouped(scope: Scope, *cols: Any) -> list[Any]:
    return [c for c in cols if scope.by is not None or c is not cols[0]]


# First outbound per (play, contact) and per contact in the period: most figures hang off
# it, so `build_report` computes it once into two temporary tables (per connection, inside
# the report's transaction) instead of re-aggregating the messages in every query.
_scratch = sa.MetaData()
FIRST_OUT_PLAY = sa.Table(
    "report_first_out_play",
    _scratch,
    sa.Column("key", sa.String(191), nullable=False),
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Index("ix_report_first_out_play_contact", "contact_type", "contact_id"),
    prefixes=["TEMPORARY"],
)
FIRST_OUT_CONTACT = sa.Table(
    "report_first_out_contact",
    _scratch,
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Index("ix_report_first_out_contact_contact", "contact_type", "contact_id", unique=True),
    prefixes=["TEMPORARY"],
)


@contextmanager
def first_outbound(conn: sa.Connection, scope: Scope) -> Iterator[None]:
    """Fill the first-outbound tables for the period; drop them when the block ends.

    On an error the caller's transaction rolls back, which drops them too (DDL is
    transactional on SQLite and Postgres), so only the happy path drops them here."""
    _scratch.drop_all(conn, checkfirst=True)  # a pooled connection's leftovers, if any
    _scratch.create_all(conn)
    m, fp, fc = tb.messages, FIRST_OUT_PLAY, FIRST_OUT_CONTACT
    play = sa.func.coalesce(m.c.play, NONE_KEY)
    conn.execute(
        sa.insert(fp).from_select(
            ["key", "contact_type", "contact_id", "first_at", "phone"],
            sa.select(
                play,
                m.c.contact_type,
                m.c.contact_id,
                sa.func.min(m.c.created_at),
                sa.func.min(m.c.to_number),
            )
            .where(
                m.c.direction == "outbound",
                m.c.contact_id.is_not(None),
                *scope.clip(m.c.created_at),
            )
            .group_by(play, m.c.contact_type, m.c.contact_id),
        )
    )
    # per contact = the earliest over its plays (and the least number, as per play)
    conn.execute(
        sa.insert(fc).from_select(
            ["contact_type", "contact_id", "first_at", "phone"],
            sa.select(
                fp.c.contact_type,
                fp.c.contact_id,
                sa.func.min(fp.c.first_at),
                sa.func.min(fp.c.phone),
            ).group_by(fp.c.contact_type, fp.c.contact_id),
        )
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {fp.name}")
        conn.exec_driver_sql(f"ANALYZE {fc.name}")
    yield
    _scratch.drop_all(conn)


def _first_out(scope: Scope) -> FromClause:
    """One row per (group, messaged contact): the first outbound in the period.

    Reads the tables `first_outbound` filled; a contact's group (other than its play) is
    a property of the contact, so the per-contact table keyed by it is the same thing."""
    if scope.by is GroupBy.PLAY:
        return FIRST_OUT_PLAY
    fc = FIRST_OUT_CONTACT
    key, src = _keyed(scope, fc, fc.c.contact_type, fc.c.contact_id)
    return (
        sa.select(key.label("key"), fc.c.contact_type, fc.c.contact_id, fc.c.first_at, fc.c.phone)
        .select_from(src)
        .subquery("first_out")
    )


def _percentiles(
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


def describe_outcome(outcome: Outcome | None, meeting: Sequence[str]) -> str:
    if outcome is None or (outcome.condition is None and outcome.disposition is None):
        return f"disposition in {', '.join(meeting)} (no outcome configured)"
    if outcome.condition is None:
        return f"disposition = {outcome.disposition}"
    return str(outcome.condition)


def _flag(cond: Any) -> ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


# --- the figures ---------------------------------------------------------------------------


def sends(conn: sa.Connection, scope: Scope) -> dict[str, tuple[int, int]]:
    """Per group: (attempted, delivered) outbound messages."""
    m = tb.messages
    where = [m.c.direction == "outbound", *scope.clip(m.c.created_at)]
    delivered = _flag(m.c.status.in_(DELIVERED))
    stmt: sa.Executable
    if scope.by is None or scope.by is GroupBy.PLAY:
        key, src = _keyed(scope, m, m.c.contact_type, m.c.contact_id, m.c.play)
        stmt = (
            sa.select(key.label("key"), sa.func.count(), delivered)
            .select_from(src)
            .where(*where)
            .group_by(*_grouped(scope, key))
        )
    else:  # count per contact first: the contact's group is then one join per contact
        ref = (m.c.contact_type, m.c.contact_id)
        per = (
            sa.select(*ref, sa.func.count().label("n"), delivered.label("d"))
            .where(*where)
            .group_by(*ref)
            .subquery("per_contact")
        )
        key, src = _keyed(scope, per, per.c.contact_type, per.c.contact_id)
        stmt = (
            sa.select(key.label("key"), sa.func.sum(per.c.n), sa.func.sum(per.c.d))
            .select_from(src)
            .group_by(key)
        )
    return {row[0]: (int(row[1]), int(row[2])) for row in conn.execute(stmt)}


def contact_figures(conn: sa.Connection, scope: Scope) -> dict[str, tuple[int, int, int, int]]:
    """Per group: (messaged contacts, replied, meetings, opted out)."""
    fo = _first_out(scope)
    inb = tb.messages.alias("inb")
    cl = tb.consent_ledger
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
    opted = (
        sa.exists()
        .where(
            cl.c.phone == fo.c.phone,
            cl.c.status == OPTED_OUT,
            cl.c.at >= fo.c.first_at,
            *scope.before_end(cl.c.at),
        )
        .correlate(fo)
    )
    stmt = (
        sa.select(
            fo.c.key,
            sa.func.count(),
            _flag(replied),
            _flag(cs.c.disposition.in_(list(scope.meeting))),
            _flag(opted),
        )
        .select_from(
            fo.outerjoin(
                cs,
                sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id),
            )
        )
        .group_by(fo.c.key)
    )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in conn.execute(stmt)}


def disposition_mix(conn: sa.Connection, scope: Scope) -> dict[str, dict[str, int]]:
    fo = _first_out(scope)
    cs = tb.contact_state.alias("cs")
    disp = sa.func.coalesce(cs.c.disposition, NONE_KEY)
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
        fo = _first_out(scope)
        joined = t.join(
            fo, sa.and_(fo.c.contact_type == t.c.contact_type, fo.c.contact_id == t.c.contact_id)
        )
        return fo.c.key, joined
    return _keyed(scope, t, t.c.contact_type, t.c.contact_id)


def sla_figures(
    conn: sa.Connection, scope: Scope
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[int, int]]]:
    """Per group: (closed timers, met on time), and the response-time percentiles."""
    t = tb.sla_timers
    key, src = _timers(scope)
    closed = sa.or_(t.c.met.is_not(None), t.c.breached.is_not(None))
    stmt = (
        sa.select(
            key.label("key"),
            sa.func.count(),
            _flag(sa.and_(t.c.met.is_not(None), t.c.met <= t.c.due)),
        )
        .select_from(src)
        .where(closed, *scope.clip(t.c.started))
        .group_by(*_grouped(scope, key))
    )
    counts = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(stmt)}
    secs = _seconds(conn.dialect.name, t.c.started, t.c.met)
    sub = (
        sa.select(key.label("key"), secs.label("value"))
        .select_from(src)
        .where(t.c.met.is_not(None), *scope.clip(t.c.started))
        .subquery("response")
    )
    return counts, _percentiles(conn, sub)


def response_histogram(conn: sa.Connection, scope: Scope) -> list[tuple[str, int]]:
    """Met timers started in the period, by response time bucket (all groups together)."""
    t = tb.sla_timers
    secs = _seconds(conn.dialect.name, t.c.started, t.c.met)
    whens = [(secs < bound, i) for i, (bound, _) in enumerate(BUCKETS) if bound is not None]
    bucket = sa.case(*whens, else_=len(BUCKETS) - 1)
    stmt = (
        sa.select(bucket.label("bucket"), sa.func.count())
        .where(t.c.met.is_not(None), *scope.clip(t.c.started))
        .group_by(bucket)
    )
    counts = {int(b): int(n) for b, n in conn.execute(stmt)}
    return [(label, counts.get(i, 0)) for i, (_, label) in enumerate(BUCKETS)]


def blocked_reasons(conn: sa.Connection, scope: Scope) -> dict[str, dict[str, int]]:
    """Per group: blocked decisions per reason (two reasons on one decision count twice)."""
    d = tb.decision_log
    key, src = _keyed(scope, d, d.c.contact_type, d.c.contact_id, d.c.play)
    reason = _reasons(conn.dialect.name, d.c.reasons)
    stmt = (
        sa.select(key.label("key"), reason.c.value, sa.func.count())
        .select_from(src.join(reason, sa.true()))
        .where(d.c.verdict == "block", *scope.clip(d.c.at))
        .group_by(*_grouped(scope, key, reason.c.value))
    )
    out: dict[str, dict[str, int]] = {}
    for key_value, code, count in conn.execute(stmt):
        out.setdefault(key_value, {})[str(code)] = int(count)
    return out


def opt_out_trend(conn: sa.Connection, scope: Scope) -> list[TrendPoint]:
    m, cl = tb.messages, tb.consent_ledger
    dialect = conn.dialect.name
    sent_day = _day(dialect, m.c.created_at)
    sent = conn.execute(
        sa.select(sent_day, sa.func.count())
        .where(m.c.direction == "outbound", *scope.clip(m.c.created_at))
        .group_by(sent_day)
    ).all()
    out_day = _day(dialect, cl.c.at)
    outs = conn.execute(
        sa.select(out_day, sa.func.count(sa.distinct(cl.c.phone)))
        .where(cl.c.status == OPTED_OUT, *scope.clip(cl.c.at))
        .group_by(out_day)
    ).all()
    by_sent = {str(d): int(n) for d, n in sent}
    by_out = {str(d): int(n) for d, n in outs}
    return [
        TrendPoint(day, by_sent.get(day, 0), by_out.get(day, 0))
        for day in sorted(by_sent.keys() | by_out.keys())
    ]


def play_outcomes(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> list[PlayOutcome]:
    """Outcome conversion, time to outcome and holdout lift, per play."""
    play_scope = replace(scope, by=GroupBy.PLAY)
    fo = _first_out(play_scope)
    cs = tb.contact_state.alias("cs")
    on_cs = sa.and_(cs.c.crm_object_type == fo.c.contact_type, cs.c.crm_id == fo.c.contact_id)
    converted = _converted(fo.c.key, cs, outcomes, scope.meeting)
    counts = {
        r[0]: (int(r[1]), int(r[2]))
        for r in conn.execute(
            sa.select(fo.c.key, sa.func.count(), _flag(converted))
            .select_from(fo.outerjoin(cs, on_cs))
            .group_by(fo.c.key)
        )
    }
    outcome_at = _outcome_at(fo, cs, outcomes, scope)
    secs = _seconds(conn.dialect.name, fo.c.first_at, outcome_at)
    sub = (
        sa.select(fo.c.key.label("key"), secs.label("value"))
        .select_from(fo.join(cs, on_cs))
        .where(converted, outcome_at.is_not(None), outcome_at >= fo.c.first_at)
        .subquery("to_outcome")
    )
    velocity = _percentiles(conn, sub)
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
        sa.select(members.c.play, members.c.arm, sa.func.count(), _flag(converted))
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


def _group(key: str, scope_parts: dict[str, Any]) -> GroupMetrics:
    attempted, delivered = scope_parts["sends"].get(key, (0, 0))
    contacts, replied, meetings, opted = scope_parts["contacts"].get(key, (0, 0, 0, 0))
    closed, met = scope_parts["sla"].get(key, (0, 0))
    pct = scope_parts["pct"].get(key, {})
    return GroupMetrics(
        key=key,
        attempted=attempted,
        delivered=delivered,
        contacts=contacts,
        replied=replied,
        meetings=meetings,
        opted_out=opted,
        sla_closed=closed,
        sla_met=met,
        response_p50_s=pct.get(50),
        response_p90_s=pct.get(90),
        dispositions=scope_parts["mix"].get(key, {}),
        blocked=scope_parts["blocked"].get(key, {}),
    )


def _groups(conn: sa.Connection, scope: Scope) -> list[GroupMetrics]:
    counts, pct = sla_figures(conn, scope)
    parts: dict[str, Any] = {
        "sends": sends(conn, scope),
        "contacts": contact_figures(conn, scope),
        "sla": counts,
        "pct": pct,
        "mix": disposition_mix(conn, scope),
        "blocked": blocked_reasons(conn, scope),
    }
    keys: set[str] = set()
    for name in ("sends", "contacts", "sla", "pct", "mix", "blocked"):
        keys |= parts[name].keys()
    return [_group(k, parts) for k in sorted(keys)]


def build_report(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome] | None = None
) -> Report:
    """Every figure of the report, for one period and grouping."""
    outcomes = outcomes or {}
    with first_outbound(conn, scope):
        totals = _groups(conn, replace(scope, by=None))
        total = totals[0] if totals else GroupMetrics(key=ALL_KEY)
        return Report(
            scope=scope,
            total=total,
            groups=_groups(conn, scope) if scope.by is not None else [],
            plays=play_outcomes(conn, scope, outcomes),
            opt_out_trend=opt_out_trend(conn, scope),
            response_histogram=response_histogram(conn, scope),
        )
