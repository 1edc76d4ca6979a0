"""Pull: CRM changes since the cursor into contact state, signals and the consent ledger.

Each batch the adapter yields is applied in ONE transaction: the contact states, the
consent the CRM shows (an opt-out suppresses at once; an opt-in needs a source and a
timestamp, which a bare field does not carry), the consent corrections for records that
disagree with the ledger, the planner's sends, and the cursor. A crash loses nothing
(the cursor did not move) and doubles nothing (states are upserts, sends and writes are
keyed). Batches are consumed as they come, so memory stays flat however many records a
first pull brings. Each batch's owner names come from the CRM's user directory first
(`engine.owners`), for the plays' templates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from connector.domain import consent as consent_rules
from connector.domain.model import ConsentStatus, ContactState
from connector.domain.signals import changes
from connector.engine import consent_sync, journey, timed
from connector.engine.context import EngineContext
from connector.engine.owners import with_owner_names
from connector.ports import Connection
from connector.store import consent, contacts, cursors

log = structlog.get_logger(__name__)


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
    for batch in ctx.crm.pull(since):
        owners = ctx.owner_names.lookup(ctx.crm, (c.owner_id or "" for c in batch.contacts))
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            states = with_owner_names(batch.contacts, owners)
            for contact in states:
                _apply(ctx, conn, contact, now, report, news=news)
            timed.index_contacts(ctx, conn, states)  # the clock's instants of these states
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


def _apply(
    ctx: EngineContext,
    conn: Connection,
    contact: ContactState,
    now: datetime,
    report: PullReport,
    *,
    news: bool,
) -> None:
    previous = contacts.get(conn, contact.ref)
    contacts.upsert(conn, contact, now)
    report.contacts += 1
    signals = changes(previous, contact, new_record_signals=news)
    report.signals += len(signals)
    report.crm_writes += journey.after_pull(ctx.mapping, conn, previous, contact, now)
    phone = contact.phone
    if phone and not contact.deleted:
        if contact.consent is not ConsentStatus.UNKNOWN:
            history = consent.history(conn, phone)
            decision = consent_rules.decide_crm_consent(
                history,
                contact.consent,
                None,
                None,
                phone=phone,
                observed_at=now,
                evidence_text=f"CRM field on {contact.ref}",
            )
            if decision.record is not None:
                report.consent_changes += 1
                report.crm_writes += consent_sync.record_event(conn, decision.record, now)
        report.crm_writes += consent_sync.correct(conn, phone, now)
    if ctx.planner is not None and not contact.deleted:
        report.sends_planned += ctx.planner.plan(conn, contact, signals, now)
