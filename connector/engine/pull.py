"""Pull: CRM changes since the cursor into contact state, signals and the consent ledger.

Each batch the adapter yields is applied in ONE transaction: the contact states, the
consent the CRM shows (an opt-out suppresses at once; an opt-in needs a source and a
timestamp, which a bare field does not carry), the consent corrections for records that
disagree with the ledger, the planner's sends, and the cursor. A crash loses nothing
(the cursor did not move) and doubles nothing (states are upserts, sends and writes are
keyed). Batches are consumed as they come, so memory stays flat however many records a
first pull brings. Each batch's owner names come from the CRM's user directory first
(`engine.owners`), for the plays' templates.

A batch is applied set-based, so a first pull of a large org keeps up with the CRM's API
(docs/architecture.md, "The pull at scale"): it is cut into segments where a record or a
number comes again (`segments`), each segment's previous states are read and its new ones
upserted in one statement each (`persist`), and the consent its records show applied to
the ledger, the records sharing their numbers and the CRM outbox in a few statements for
the whole segment (`consent_sync.apply_pulled`), and the records that signal something
planned together after their journeys' writes (`PlaysPlanner.plan_many`). Each segment's
consent is applied before its records' journeys and plays, so a play sees the ledger its
record's fields just moved. The next page is fetched on a bounded prefetch thread
(`engine.prefetch`) while this one is applied; every CRM call of the pull is on it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from connector.domain.model import ContactState, CrmRef
from connector.domain.signals import Signal, changes
from connector.engine import consent_sync, journey, timed
from connector.engine.context import EngineContext
from connector.engine.owners import with_owner_names
from connector.engine.prefetch import Prefetch
from connector.engine.segments import apart
from connector.ports import Connection, Cursor, Owner, PullBatch
from connector.store import consent, contacts, cursors

log = structlog.get_logger(__name__)

PREFETCH = 2  # CRM pages read ahead of the one being applied


@dataclass
class PullReport:
    batches: int = 0
    contacts: int = 0
    signals: int = 0
    sends_planned: int = 0
    consent_changes: int = 0
    crm_writes: int = 0


def cursor_name(ctx: EngineContext) -> str:
    return f"pull:{ctx.settings.crm}"


def run(ctx: EngineContext) -> PullReport:
    report = PullReport()
    name = cursor_name(ctx)
    with ctx.store.begin() as conn:
        since = cursors.get(conn, name)
    # records new to the store after the first pull are news (a lead just created), so
    # they signal; on the first pull they are the backlog, and stay quiet
    news = since is not None
    if not news:
        # a first pull indexes every contact it stores, so the clock's index is built
        # here, while the store is still empty, instead of rebuilt from every contact by
        # the first scan after it
        watch = timed.watch_of(ctx)
        if watch is not None:
            timed.ensure_index(ctx, watch, ctx.clock.now())
    for batch, owners in Prefetch(_pages(ctx, since), PREFETCH, "pull-prefetch"):
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            states = with_owner_names(batch.contacts, owners)
            row_ids: dict[CrmRef, int] = {}
            for segment in segments(states):
                row_ids.update(_apply(ctx, conn, segment, now, report, news=news))
            timed.index_contacts(ctx, conn, states, row_ids)  # their clock's instants
            if batch.cursor is not None:
                cursors.set_(conn, name, batch.cursor, now)
        report.batches += 1
    if report.crm_writes:
        ctx.woke("writeback")
    if report.sends_planned:
        ctx.woke("send")
    log.info(
        "pull.done",
        batches=report.batches,
        contacts=report.contacts,
        signals=report.signals,
        sends_planned=report.sends_planned,
    )
    return report


def _pages(
    ctx: EngineContext, since: Cursor | None
) -> Iterator[tuple[PullBatch, dict[str, Owner]]]:
    """The CRM's batches with their owners: every CRM call of the pull, on the prefetch
    thread."""
    for batch in ctx.crm.pull(since):
        owners = ctx.owner_names.lookup(ctx.crm, (c.owner_id or "" for c in batch.contacts))
        yield batch, owners


def segments(states: Sequence[ContactState]) -> Iterator[list[ContactState]]:
    """The batch cut where a record or a number comes again (`engine.segments`), so
    persisting a whole segment first shows every per-record step (the consent ledger's
    look-ups by number) exactly what it saw when records were applied one by one."""
    return apart(states, _itself)


def _itself(state: ContactState) -> ContactState:
    return state


def persist(
    conn: Connection, states: Sequence[ContactState], now: datetime
) -> tuple[dict[CrmRef, ContactState], dict[CrmRef, int]]:
    """Where a batch of changed contact states is persisted: the previous states read in
    one query, the new ones upserted in one statement. Returns the previous states (a
    record new to the store is absent) and every record's row id. Whatever is kept per
    contact state (an index of its next timed instants, `timed.index_contacts`, called by
    `run` once the batch's segments are applied) belongs with it, in the same transaction."""
    previous = contacts.get_many(conn, [state.ref for state in states])
    return previous, contacts.upsert_many(conn, states, now)


def _apply(
    ctx: EngineContext,
    conn: Connection,
    segment: Sequence[ContactState],
    now: datetime,
    report: PullReport,
    *,
    news: bool,
) -> dict[CrmRef, int]:
    previous, row_ids = persist(conn, segment, now)
    numbered = [c for c in segment if c.phone and not c.deleted]
    histories = consent.histories(conn, (c.phone for c in numbered if c.phone))
    pulled = consent_sync.apply_pulled(conn, numbered, histories, now)
    report.consent_changes += pulled.events
    report.crm_writes += pulled.writes
    planned: list[tuple[ContactState, Sequence[Signal]]] = []
    for contact in segment:
        before = previous.get(contact.ref)
        report.contacts += 1
        signals = changes(before, contact, new_record_signals=news)
        report.signals += len(signals)
        report.crm_writes += journey.after_pull(ctx.mapping, conn, before, contact, now)
        if signals and not contact.deleted:
            planned.append((contact, signals))
    if ctx.planner is not None and planned:  # a contact's plays see its journey's writes
        report.sends_planned += ctx.planner.plan_many(conn, planned, now)
    return row_ids
