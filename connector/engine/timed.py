"""Timed triggers: plays that fire on the clock, not on a CRM change. "Inactive N days"
reads the mapped `last_activity` segment; "a date minus an offset" (a no-show reminder two
hours before `meeting_time`, a renewal reminder 30 days before `renewal_date`) reads the
named date segment.

Each run covers the window since the previous one (the cursor ``timed:<crm>``), so a
trigger fires once per spell or per date however often it runs, and a moved date fires
again at its new time. A first run looks back one day only: deploying smsync must not
text every contact who went quiet last year. A replayed window queues nothing twice (a
play's outbox key holds its trigger time). Runs inside the sweep job, at most every
`MIN_GAP`.

The scan is O(due), not O(contacts): each contact's instant per trigger (`instants`) is
kept in `timed_instants`, indexed by instant. A pull replaces a contact's instants in the
transaction that stores its new state (`index_contacts`, called by `engine.pull`), so a
moved meeting has only its new instant; a change of the plays' timed triggers (the
fingerprint of `_Watch`) rebuilds the index from the stored contacts once. The scan reads
the contacts whose instant fell in (since, now] and decides each with `due` on its current
segments, as the full scan did, so a stale instant can never fire."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from connector.domain import plays as p
from connector.domain.instants import parse_instant
from connector.domain.model import ContactState, CrmRef
from connector.domain.signals import Signal, became_inactive, date_due
from connector.engine.contact_context import LAST_ACTIVITY
from connector.engine.context import EngineContext
from connector.engine.plan import PlanItem, PlaysPlanner
from connector.ports import Connection, Cursor
from connector.store import contacts, cursors, timed_index

log = structlog.get_logger(__name__)

FIRST_RUN_LOOKBACK = timedelta(days=1)
# the scan runs at most this often however short the sweep interval; a reminder is at
# most this late
MIN_GAP = timedelta(minutes=5)
PAGE = 500
REBUILD_PAGE = 5000  # contacts per transaction when the index is rebuilt


@dataclass
class TimedReport:
    scanned: int = 0  # live contacts with a number: those the clock watched
    due: int = 0  # contacts read from the index: an instant fell in the window
    signals: int = 0
    sends_planned: int = 0
    rebuilt: int = 0  # contacts indexed by a rebuild (first scan, or the plays changed)


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

    def fingerprint(self) -> str:
        """Changes when the triggers do: the stored instants are then rebuilt."""
        spec = repr((self.inactive_days, [(n, b.total_seconds()) for n, b in self.dates]))
        return hashlib.sha256(spec.encode()).hexdigest()[:32]


def watch_of(ctx: EngineContext) -> _Watch | None:
    """What the plays ask the clock for; None when there are no plays or no timed ones."""
    planner = ctx.planner
    if not isinstance(planner, PlaysPlanner):
        return None
    watch = _Watch.of(list(planner.plays.values()))
    return watch or None


def instants(segments: dict[str, str], watch: _Watch) -> dict[str, datetime]:
    """Each trigger's instant for these segments: the mark `due` compares with its window
    (`became_inactive`: last activity + days; `date_due`: the date - the offset)."""
    found: dict[str, datetime] = {}
    last = parse_instant(segments.get(LAST_ACTIVITY))
    if last is not None:
        for days in watch.inactive_days:
            found[f"inactive:{days}"] = last + timedelta(days=days)
    for name, before in watch.dates:
        value = parse_instant(segments.get(name))
        if value is not None:
            found[f"date:{name}:{int(before.total_seconds())}"] = value - before
    return found


def index_contacts(
    ctx: EngineContext,
    conn: Connection,
    states: Sequence[ContactState],
    ids: Mapping[CrmRef, int],
) -> None:
    """Replace these contacts' instants with those of their new state (none when deleted or
    without a number); call in the transaction that stores the states, with the row ids
    storing them gave (`contacts.upsert_many`)."""
    watch = watch_of(ctx)
    if watch is None or not states:
        return
    latest = {state.ref: state for state in states}
    marks = [
        (ids[ref], instants(state.segments, watch) if state.phone and not state.deleted else {})
        for ref, state in latest.items()
        if ref in ids
    ]
    timed_index.replace(conn, marks)


def index_name(ctx: EngineContext) -> str:
    return f"timed-index:{ctx.settings.crm}"


def ensure_index(ctx: EngineContext, watch: _Watch, now: datetime) -> int:
    """Rebuild the instants from the stored contacts when none were built for these
    triggers; the fingerprint is saved last, so a rebuild cut short starts over."""
    name, fingerprint = index_name(ctx), watch.fingerprint()
    with ctx.store.begin() as conn:
        saved = cursors.get(conn, name)
        if saved is not None and saved.id == fingerprint:
            return 0
        timed_index.clear(conn)
    after, rebuilt = 0, 0
    while True:
        with ctx.store.begin() as conn:
            page = timed_index.live_page(conn, after, REBUILD_PAGE)
            timed_index.add(conn, [(cid, instants(seg, watch)) for cid, seg in page])
        rebuilt += len(page)
        if len(page) < REBUILD_PAGE:
            break
        after = page[-1][0]
    with ctx.store.begin() as conn:
        cursors.set_(conn, name, Cursor(modstamp=now, id=fingerprint), now)
    log.info("timed.index_rebuilt", contacts=rebuilt)
    return rebuilt


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


def due_now(
    conn: Connection, watch: _Watch, since: datetime, now: datetime, after: int
) -> tuple[list[tuple[CrmRef, list[Signal]]], int, int]:
    """One page of the contacts due in (since, now] after row id `after`: (each live
    contact with its signals, contacts read, the page's last row id). Two queries a page:
    the index range, then those contacts' segments."""
    ids = timed_index.due_ids(conn, since, now, after, PAGE)
    found: list[tuple[CrmRef, list[Signal]]] = []
    for _, ref, segments in timed_index.live_segments(conn, ids):
        signals = due(ref, segments, watch, since, now)
        if signals:
            found.append((ref, signals))
    return found, len(ids), ids[-1] if ids else after


def run(ctx: EngineContext) -> TimedReport:
    report = TimedReport()
    planner = ctx.planner
    watch = watch_of(ctx)
    if watch is None or not isinstance(planner, PlaysPlanner):
        return report
    name = cursor_name(ctx)
    now = ctx.clock.now()
    with ctx.store.begin() as conn:
        cursor = cursors.get(conn, name)
    since = cursor.modstamp if cursor is not None else now - FIRST_RUN_LOOKBACK
    if since >= now or (cursor is not None and now - since < MIN_GAP):
        return report
    report.rebuilt = ensure_index(ctx, watch, now)
    after = 0
    while True:
        with ctx.store.begin() as conn:
            found, read, after = due_now(conn, watch, since, now, after)
            states = contacts.get_many(conn, [ref for ref, _ in found])
            items: list[PlanItem] = [
                (state, signals)
                for ref, signals in found
                if (state := states.get(ref)) is not None and not state.deleted
            ]
            report.signals += sum(len(signals) for _, signals in items)
            report.sends_planned += planner.plan_many(conn, items, now)
        report.due += read
        if read < PAGE:
            break
    with ctx.store.begin() as conn:
        report.scanned = timed_index.live_count(conn)
        cursors.set_(conn, name, Cursor(modstamp=now, id="timed"), now)
    if report.sends_planned:
        ctx.woke("send")
    log.info(
        "timed.done",
        scanned=report.scanned,
        due=report.due,
        signals=report.signals,
        queued=report.sends_planned,
    )
    return report
