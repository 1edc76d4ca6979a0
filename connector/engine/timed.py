"""Timed triggers: plays that fire on the clock, not on a CRM change. "Inactive N days"
reads the mapped `last_activity` segment; "a date minus an offset" (a no-show reminder two
hours before `meeting_time`, a renewal reminder 30 days before `renewal_date`) reads the
named date segment.

Each run covers the window since the previous one (the cursor ``timed:<crm>``), so a
trigger fires once per spell or per date however often it runs, and a moved date fires
again at its new time. A first run looks back one day only: deploying smsync must not
text every contact who went quiet last year. A replayed window queues nothing twice (a
play's outbox key holds its trigger time). Runs inside the sweep job, at most every
`MIN_GAP`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from connector.domain import plays as p
from connector.domain.instants import parse_instant
from connector.domain.model import CrmRef
from connector.domain.signals import Signal, became_inactive, date_due
from connector.engine.contact_context import LAST_ACTIVITY
from connector.engine.context import EngineContext
from connector.engine.plan import PlaysPlanner
from connector.ports import Cursor
from connector.store import contacts, cursors

log = structlog.get_logger(__name__)

FIRST_RUN_LOOKBACK = timedelta(days=1)
# a scan reads every contact's segments (3.3 s for 200,000 on SQLite here), so it runs at
# most this often however short the sweep interval; a reminder is at most this late
MIN_GAP = timedelta(minutes=5)
PAGE = 500


@dataclass
class TimedReport:
    scanned: int = 0
    signals: int = 0
    sends_planned: int = 0


@dataclass(frozen=True, slots=True)
class _Watch:
    """What the plays ask the clock for: inactivity marks and date offsets."""

    inactive_days: tuple[int, ...]
    dates: tuple[tuple[str, timedelta], ...]

    @classmethod
    def of(cls, plays: list[p.Play]) -> _Watch:
        kinds = p.TriggerKind
        days = {x.trigger.days for x in plays if x.trigger.kind is kinds.INACTIVE}
        dates = {
            (x.trigger.field, x.trigger.before)
            for x in plays
            if x.trigger.kind is kinds.DATE_APPROACHING and x.trigger.field
        }
        return cls(tuple(sorted(days)), tuple(sorted(dates)))

    def __bool__(self) -> bool:
        return bool(self.inactive_days or self.dates)


def cursor_name(ctx: EngineContext) -> str:
    return f"timed:{ctx.settings.crm}"


def due(
    ref: CrmRef, segments: dict[str, str], watch: _Watch, since: datetime, now: datetime
) -> list[Signal]:
    """The clock's signals for one record in (since, now]."""
    found: list[Signal] = []
    last = parse_instant(segments.get(LAST_ACTIVITY))
    for days in watch.inactive_days:
        signal = became_inactive(ref, last, days=days, now=now, last_checked=since)
        if signal is not None:
            found.append(signal)
    for name, before in watch.dates:
        signal = date_due(
            ref, name, parse_instant(segments.get(name)), before=before, since=since, now=now
        )
        if signal is not None:
            found.append(signal)
    return found


def run(ctx: EngineContext) -> TimedReport:
    report = TimedReport()
    planner = ctx.planner
    if not isinstance(planner, PlaysPlanner):
        return report
    watch = _Watch.of(list(planner.plays.values()))
    if not watch:
        return report
    name = cursor_name(ctx)
    now = ctx.clock.now()
    with ctx.store.begin() as conn:
        cursor = cursors.get(conn, name)
    since = cursor.modstamp if cursor is not None else now - FIRST_RUN_LOOKBACK
    if since >= now or (cursor is not None and now - since < MIN_GAP):
        return report
    after = 0
    while True:
        with ctx.store.begin() as conn:
            page = contacts.segment_page(conn, after, PAGE)
            for row_id, ref, segments in page:
                after = row_id
                signals = due(ref, segments, watch, since, now)
                if not signals:
                    continue
                state = contacts.get(conn, ref)
                if state is None or state.deleted:
                    continue
                report.signals += len(signals)
                report.sends_planned += planner.plan(conn, state, signals, now)
        report.scanned += len(page)
        if len(page) < PAGE:
            break
    with ctx.store.begin() as conn:
        cursors.set_(conn, name, Cursor(modstamp=now, id="timed"), now)
    if report.sends_planned:
        ctx.woke("send")
    log.info(
        "timed.done", scanned=report.scanned, signals=report.signals, queued=report.sends_planned
    )
    return report
