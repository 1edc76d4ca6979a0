"""Ingest: turn inbox items (webhooks and polled events) into state and CRM writes.

Per item, in one transaction with `inbox.mark_processed`: the consent ledger, the
disposition, the activity, field updates, an owned follow-up task with its SLA timer,
the one review task of an unknown or shared number (or of an opt-out read from a cue
only), and the HELP answer or opt-out confirmation in the SMS outbox (`auto_replies`).
The sender's consent takes part in reading the text: "YES" re-subscribes only an
opted-out number. A crash before the commit leaves
the item unprocessed (its lease, kept by a heartbeat while the batch is worked on,
expires and it is claimed again); after it, everything
it caused is in the outbox. Resolving a number the local state does not know asks the CRM
(`find_by_phone`) before the transaction, never inside it.

Status items: the message's state machine was already moved at intake. A final status
updates the message's activity; a permanent failure marks the number invalid on its
record, and a provider block (21610) enters the consent ledger.

An item that fails is released with an exponential back-off (the items behind it go on),
and dead-lettered when its own data is refused or after `SMSYNC_MAX_ATTEMPTS_INBOX`
attempts (connector/engine/dead_letters.py). A fatal error (the CRM's credentials or
quota) is nobody's item: the run stops and the claimed items go back with their attempt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from connector.domain import consent as consent_rules
from connector.domain.dispositions import Classification, classify
from connector.domain.model import (
    OPTED_OUT,
    ContactState,
    CrmRef,
    CrmWrite,
    Direction,
    Message,
    MessageStatus,
)
from connector.domain.phones import try_e164
from connector.domain.routing import route
from connector.domain.sla import add_business_time, start_timer
from connector.engine import compliance, consent_sync, crm_records, dead_letters, outbox, tasks
from connector.engine.context import EngineContext
from connector.engine.dead_letters import DeadLetter
from connector.engine.outbox_keys import correlation_id
from connector.engine.reply_policy import ReplyPolicy, load_rotation, save_rotation, sla_for
from connector.engine.send import policy_of
from connector.errors import FatalError
from connector.failures import backoff, describe, permanent
from connector.logs import mask_phone
from connector.store import contacts, inbox, messages, sla
from connector.store.heartbeat import Heartbeat
from connector.store.records import InboxItem
from connector.store.tables import inbox as inbox_table

log = structlog.get_logger(__name__)

PROVIDER_BLOCK = 21610
# Twilio codes that say the number will never take a text: invalid, landline, unreachable,
# unknown or carrier-rejected destination.
PERMANENT_FAILURES = frozenset({21211, 21614, 30003, 30005, 30006})
# Dispositions that end the active motion (the play has its outcome).
ENDS_MOTION = frozenset({OPTED_OUT, "wrong_number"})
BATCH = 200
RETRY_AFTER = timedelta(seconds=30)  # after the first failure; doubles up to RETRY_CAP
RETRY_CAP = timedelta(hours=1)


@dataclass
class IngestReport:
    claimed: int = 0
    processed: int = 0
    failed: int = 0
    dead: int = 0  # dead-lettered (included in `failed` when it happened to a claimed item)
    stopped: str | None = None  # why the run stopped early (a fatal error), if it did
    inbound: int = 0
    statuses: int = 0
    crm_writes: int = 0
    tasks: int = 0
    reviews: int = 0
    consent_changes: int = 0
    auto_replies: int = 0  # HELP answers and opt-out confirmations queued
    dispositions: Counter[str] = field(default_factory=Counter)


def _parse_at(raw: Any, default: datetime) -> datetime:
    if isinstance(raw, str) and raw:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=default.tzinfo)
    return default


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
            inbox_table,
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
            extra = _resolve_remote(ctx, item.payload)
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            if item.kind == "inbound":
                _inbound(ctx, policy, conn, item=item, extra=extra, now=now, report=report)
                report.inbound += 1
            else:
                _status(ctx, conn, item, now, report)
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


def _resolve_remote(ctx: EngineContext, payload: dict[str, Any]) -> list[CrmRef]:
    """CRM records of the sender the local state does not know (a network call, so
    outside the item's transaction)."""
    phone = try_e164(str(payload.get("from") or ""))
    if phone is None:
        return []
    with ctx.store.begin() as conn:
        if contacts.find_by_phone(conn, phone):
            return []
    return sorted(ctx.crm.find_by_phone(phone), key=lambda r: (r.object_type, r.id))


def _address(payload: dict[str, Any], key: str) -> str:
    """A sender or recipient address as sent (E.164, or channel-prefixed such as
    ``whatsapp:+14155550123``); one holding a control character is refused for good."""
    value = str(payload.get(key) or "")
    if not value.isprintable():
        raise ValueError(f"the {key!r} address holds a control character")
    return value


def _put(conn: sa.Connection, write: CrmWrite, now: datetime, report: IngestReport) -> None:
    report.crm_writes += int(outbox.put(conn, write, now))


def _message(item: InboxItem) -> Message:
    p = item.payload
    sender, to = _address(p, "from"), _address(p, "to")
    return Message(
        sid=str(p["sid"]),
        direction=Direction.INBOUND,
        from_=try_e164(sender) or sender,
        to=to,
        # a NUL means nothing in a text and Postgres cannot store one
        body=str(p.get("body") or "").replace("\x00", ""),
        status=MessageStatus.RECEIVED,
        at=_parse_at(p.get("at"), item.received_at),
        num_segments=int(p.get("num_segments") or 1),
    )


def _inbound(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: sa.Connection,
    *,
    item: InboxItem,
    extra: list[CrmRef],
    now: datetime,
    report: IngestReport,
) -> None:
    message = _message(item)
    sid, phone = message.sid, message.from_
    states = contacts.find_by_phone(conn, phone)
    refs = [s.ref for s in states] + [r for r in extra if r not in {s.ref for s in states}]
    primary = refs[0] if refs else None
    messages.upsert(conn, message, now, primary if len(refs) == 1 else None)
    opt_out_type = item.payload.get("opt_out_type")
    found = classify(
        message.body,
        policy.rules,
        opt_out_type=opt_out_type,
        sid=sid,
        at=message.at,
        keyword_rules=policy_of(ctx).keywords.rules,
        sender=compliance.sender(conn, phone, states),
    )
    name = found.name
    report.dispositions[name] += 1
    if found.compliance is not None:
        done = compliance.record(
            conn,
            policy_of(ctx),
            found=found,
            message=message,
            states=states,
            refs=refs,
            extra=extra,
            opt_out_type=opt_out_type,
            now=now,
        )
        report.consent_changes += done.consent_changes
        report.crm_writes += done.crm_writes
        report.auto_replies += done.auto_replies
    in_vocabulary = name in ctx.mapping.dispositions.vocabulary
    _put(
        conn,
        crm_records.activity(message, primary or tasks.REVIEW_TARGET, disposition=name),
        now,
        report,
    )
    play = next((s.active_motion for s in states if s.active_motion), None)
    due: datetime | None = None
    single = states[0] if len(states) == 1 and len(refs) == 1 else None
    if single is not None and found.creates_task:
        due = _follow_up(
            ctx,
            policy,
            conn,
            state=single,
            message=message,
            found=found,
            now=now,
            play=play,
            report=report,
        )
    elif found.review or len(refs) != 1:
        _review(
            ctx,
            policy,
            conn,
            message=message,
            found=found,
            refs=refs,
            single=single,
            now=now,
            report=report,
        )
    for ref in refs:
        fields: dict[str, object] = {}
        if in_vocabulary:
            fields["disposition"] = name
            contacts.set_disposition(conn, ref, name, now)
        if name in ENDS_MOTION:
            fields["active_motion"] = None
        if due is not None and ref == primary and _mapped(ctx, ref, "sla_due"):
            fields["sla_due"] = due
        if fields:
            write = CrmWrite("field_update", crm_records.fields_id(sid, ref), ref, fields)
            _put(conn, write, now, report)


def _review(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: sa.Connection,
    *,
    message: Message,
    found: Classification,
    refs: list[CrmRef],
    single: ContactState | None,
    now: datetime,
    report: IngestReport,
) -> None:
    """One review task, never one per record: an opt-out read from a cue only goes to the
    record's owner; an unknown or shared number to the review queue."""
    team = single.owner_team if single is not None else None
    within = sla_for(ctx.mapping, None, found.name)[1]
    due = add_business_time(message.at, within, policy.calendar(team))
    if found.review and found.compliance is not None:
        owner = single.owner_id if single is not None else None
        write = tasks.opt_out_review(
            message,
            refs,
            found.compliance.describe(),
            owner_id=owner or policy.review_owner_id,
            due=due,
        )
        event = "ingest.opt_out_review"
    else:
        write = tasks.review(message, refs, found.name, owner_id=policy.review_owner_id, due=due)
        event = "ingest.review_task"
    _put(conn, write, now, report)
    report.reviews += 1
    log.info(event, sid=message.sid, phone=mask_phone(message.from_), records=len(refs))


def _mapped(ctx: EngineContext, ref: CrmRef, canonical: str) -> bool:
    try:
        return getattr(ctx.mapping.field_map(ref.object_type), canonical, None) is not None
    except KeyError:
        return False


def _follow_up(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: sa.Connection,
    *,
    state: ContactState,
    message: Message,
    found: Classification,
    now: datetime,
    play: str | None,
    report: IngestReport,
) -> datetime:
    """The owned follow-up task and its SLA timer (an open timer is not restarted)."""
    team = policy.team(state.owner_team)
    rotation = load_rotation(conn, policy.teams)
    assignment = route(
        state.owner_id,
        team,
        rotation,
        owner_active=state.owner_id is not None and state.owner_id not in policy.inactive,
        fallback_owner_id=None,  # the adapter applies the mapping's fallback owner
    )
    save_rotation(conn, rotation, assignment.rotation, now)
    kind, within = sla_for(ctx.mapping, found.sla, found.name)
    timer = start_timer(kind, message.at, within, policy.calendar(state.owner_team))
    entry = sla.start(
        conn, state.ref, kind, started=timer.started, due=timer.due, source_sid=message.sid
    )
    due = entry.timer.due
    write = tasks.follow_up(
        ctx.mapping,
        message,
        state.ref,
        found.name,
        owner_id=assignment.owner_id,
        due=due,
        sla_kind=kind.value,
        play=play,
    )
    _put(conn, write, now, report)
    report.tasks += 1
    return due


def _status(
    ctx: EngineContext, conn: sa.Connection, item: InboxItem, now: datetime, report: IngestReport
) -> None:
    p = item.payload
    sid = str(p["sid"])
    message = messages.get(conn, sid)
    if message is None or message.direction is not Direction.OUTBOUND:
        return  # not one of ours (or not stored yet): the raw event is kept by intake
    target = messages.contact_of(conn, sid)
    code = message.error_code
    if target is not None and message.status.terminal:
        write = crm_records.activity(message, target)
        fields = dict(write.fields)
        if code is not None:
            fields["status"] = f"{message.status.value} ({code})"
        _put(conn, CrmWrite("activity", write.external_id, target, fields), now, report)
    if code == PROVIDER_BLOCK:
        entry = consent_rules.from_provider_block(
            phone=message.to, at=message.at, message_sid=sid, error_code=code
        )
        report.consent_changes += 1
        report.crm_writes += consent_sync.record_event(conn, entry, now)
    elif code in PERMANENT_FAILURES:
        for state in contacts.find_by_phone(conn, message.to):
            if _mapped(ctx, state.ref, "phone_status"):
                _put(
                    conn,
                    CrmWrite(
                        "field_update",
                        crm_records.fields_id(f"{sid}:phone", state.ref),
                        state.ref,
                        {"phone_status": "invalid"},
                    ),
                    now,
                    report,
                )
        log.info("ingest.number_invalid", sid=sid, phone=mask_phone(message.to), code=code)
