"""Ingest: turn inbox items (webhooks and polled events) into state and CRM writes.

Per item, in one transaction with `inbox.mark_processed`: an inbound text
(`ingest_inbound`: the consent ledger, the disposition, the activity, field updates, an
owned follow-up task with its SLA timer, the one review task of an unknown or shared
number or of an opt-out read from a cue only, and the HELP answer or opt-out
confirmation in the SMS outbox via `auto_replies`; the sender's consent takes part in
reading the text: "YES" re-subscribes only an opted-out number), or a status event
(`ingest_status`). A crash before the commit leaves the item unprocessed (its lease, kept
by a heartbeat while the batch is worked on, expires and it is claimed again); after it,
everything it caused is in the outbox. Then the counted link clicks the sidecar recorded
become their CRM activity and, for a high-intent link, the owner's task
(`engine/clicks.py`). Resolving a number the local state does not know
asks the CRM (`find_by_phone`) before the transaction, never inside it.

An item that fails is released with an exponential back-off (the items behind it go on),
and dead-lettered when its own data is refused or after `SMSYNC_MAX_ATTEMPTS_INBOX`
attempts (connector/engine/dead_letters.py). A fatal error (the CRM's credentials or
quota) is nobody's item: the run stops and the claimed items go back with their attempt."""

from __future__ import annotations

from datetime import timedelta

import structlog

from connector.domain.model import CrmRef
from connector.engine import clicks, dead_letters
from connector.engine.context import EngineContext
from connector.engine.dead_letters import DeadLetter
from connector.engine.ingest_inbound import inbound, resolve_remote
from connector.engine.ingest_report import IngestReport
from connector.engine.ingest_status import status
from connector.engine.outbox_keys import correlation_id
from connector.engine.reply_policy import ReplyPolicy
from connector.errors import FatalError
from connector.failures import backoff, describe, permanent
from connector.store import inbox
from connector.store.heartbeat import Heartbeat
from connector.store.records import InboxItem

log = structlog.get_logger(__name__)

BATCH = 200
RETRY_AFTER = timedelta(seconds=30)  # after the first failure; doubles up to RETRY_CAP
RETRY_CAP = timedelta(hours=1)


def run(ctx: EngineContext, *, max_items: int | None = None) -> IngestReport:
    """Process every claimable inbox item (or up to `max_items`)."""
    policy = ReplyPolicy.from_mapping(ctx.mapping)
    report = IngestReport()
    most = ctx.settings.max_attempts_inbox
    while report.stopped is None and (max_items is None or report.claimed < max_items):
        limit = BATCH if max_items is None else min(BATCH, max_items - report.claimed)
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            report.dead += dead_letters.bury_exhausted(conn, "inbox", most, now)
            items = inbox.claim(
                conn, ctx.worker_id, limit, ctx.settings.claim_lease_s, now, max_attempts=most
            )
        if not items:
            break
        report.claimed += len(items)
        queued_before, replies_before = report.crm_writes, report.auto_replies
        beat = Heartbeat(
            ctx.store,
            "inbox",
            [item.id for item in items],
            worker_id=ctx.worker_id,
            lease_s=ctx.settings.claim_lease_s,
            clock=ctx.clock,
        )
        with beat:  # the batch keeps its lease however long the CRM look-ups take
            for index, item in enumerate(items):
                try:
                    _one(ctx, policy, item, report)
                except FatalError as exc:
                    report.stopped = describe(exc)
                    _hand_back(ctx, items[index:])
                    log.warning("ingest.stopped", error=report.stopped, released=len(items) - index)
                    break
        if report.crm_writes > queued_before:
            ctx.woke("writeback")
        if report.auto_replies > replies_before:
            ctx.woke("send")  # a confirmation is due within 5 minutes of the opt-out
    if report.stopped is None:
        queued_before = report.crm_writes
        clicks.process(ctx, report)
        if report.crm_writes > queued_before:
            ctx.woke("writeback")
        if report.sends_planned:
            ctx.woke("send")
    return report


def _hand_back(ctx: EngineContext, items: list[InboxItem]) -> None:
    """Release items a stopped run did not process, with their attempt given back."""
    now = ctx.clock.now()
    with ctx.store.begin() as conn:
        for item in items:
            inbox.release(conn, item.id, None, now, ctx.worker_id, refunded=True)


def _one(ctx: EngineContext, policy: ReplyPolicy, item: InboxItem, report: IngestReport) -> None:
    # every log line about this item carries the MessageSid it came in with
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id(item.provider_id)):
        _process(ctx, policy, item, report)


def _process(
    ctx: EngineContext, policy: ReplyPolicy, item: InboxItem, report: IngestReport
) -> None:
    """Process one item; a failure is released or dead-lettered, never raised (except a
    fatal one, which stops the run)."""
    writes_before = report.crm_writes
    try:
        extra: list[CrmRef] = []
        if item.kind == "inbound":
            extra = resolve_remote(ctx, item.payload)
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            if item.kind == "inbound":
                inbound(ctx, policy, conn, item=item, extra=extra, now=now, report=report)
                report.inbound += 1
            else:
                status(ctx, conn, item, now, report)
                report.statuses += 1
            inbox.mark_processed(conn, item.id, now, ctx.worker_id)
        report.processed += 1
        log.debug("ingest.processed", kind=item.kind, crm_writes=report.crm_writes - writes_before)
    except FatalError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
        report.failed += 1
        _failed(ctx, item, exc, report)


def _failed(ctx: EngineContext, item: InboxItem, exc: Exception, report: IngestReport) -> None:
    """Release the item with a back-off, or dead-letter it (refused data, or its last try)."""
    error = describe(exc)
    log.warning(
        "ingest.item_failed", provider_id=item.provider_id, attempts=item.attempts, error=error
    )
    now = ctx.clock.now()
    with ctx.store.begin() as conn:
        if permanent(exc) or item.attempts >= ctx.settings.max_attempts_inbox:
            letter = DeadLetter.of("inbox", item.id, item.provider_id, item.attempts, exc)
            report.dead += dead_letters.bury(conn, letter, now, ctx.worker_id)
            return
        retry_at = now + backoff(
            item.attempts, RETRY_AFTER.total_seconds(), RETRY_CAP.total_seconds()
        )
        inbox.release(conn, item.id, error, retry_at, ctx.worker_id)
