"""rep_send: a rep texts back from the CRM.

Each pass asks the CRM ONE targeted question (`RepSendPort.rep_sends`: the mapping's
`rep_send:` records whose status is the send value) and, for each record not claimed yet:

1. claims it in the store by its CRM id (`store.rep_sends`), in the transaction that also
   decides and queues the text (`manual.decide`, key ``rep:<object>/<id>:<record id>``),
   so a restart or a second replica never sends it twice;
2. sends it at once through the manual-send chokepoint: consent, the number and quiet
   hours apply (outside them the text waits for the next opening); caps, play
   suppression and holdout do not hold back a rep's one-to-one reply;
3. writes the outcome in words on the same record (`RepSendPort.settle_rep_sends`):
   "sent", "blocked: ..." or "failed: ...", moving its status to the done value; a text
   held for quiet hours says so and is finished when it goes.

Bad input (no body, a body over 1,600 characters, a record on no person or on a person
with no number) is written back as "failed: ..." and nothing is sent; a refused record
(bad input, blocked) whose status the rep sets back to the send value is a new request.
The sent text is the rep's activity (owned by the send record's owner, the rep) and, like
a manual send, meets the open SLA (`send_outcomes.RowSettler.sent`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from connector.config import RepSend
from connector.domain.governance import Reason
from connector.domain.model import Verdict
from connector.domain.sla import clock_words
from connector.engine import contact_context, manual
from connector.engine.context import EngineContext
from connector.engine.outbox_keys import rep_key
from connector.engine.reply_facts import owner_zone
from connector.engine.send import policy_of
from connector.errors import SmsyncError
from connector.ports import Connection, RepSendOutcome, RepSendPort, RepSendRecord
from connector.store import consent, rep_sends, sms_outbox
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

MAX_BODY = 1600  # Twilio's limit on one message body (API_FACTS: 1,600 characters)
BATCH = 200  # records per query: one SOQL page, two HubSpot search pages at most


@dataclass
class RepSendReport:
    found: int = 0  # records the query returned
    claimed: int = 0  # claimed by this pass
    sent: int = 0
    queued: int = 0  # allowed, waiting for quiet hours to end
    blocked: int = 0
    failed: int = 0  # bad input or the provider's refusal
    waiting: int = 0  # on a record smsync has not pulled yet
    written: int = 0  # outcomes written on the CRM records


def run(ctx: EngineContext, *, limit: int = BATCH) -> RepSendReport:
    """One pass: the query, the new records sent, every outcome not yet on its record
    written back. Nothing without a `rep_send:` section or an adapter that has it."""
    report = RepSendReport()
    cfg = ctx.mapping.rep_send
    crm = ctx.crm
    if cfg is None or not isinstance(crm, RepSendPort):
        return report
    records = crm.rep_sends(limit)
    report.found = len(records)
    with ctx.store.begin() as conn:
        # a refused record asked again (its status back at the send value) is a new request
        rep_sends.release_refused(conn, [r.id for r in records])
        taken = rep_sends.claimed(conn, [r.id for r in records])
    for record in records:
        if record.id not in taken:
            _one(ctx, cfg, record, report)
    if report.claimed:
        ctx.woke("writeback")  # the activity, the SLA fields, the closed follow-up
    _settle(ctx, crm, report)
    return report


def _bad_input(cfg: RepSend, record: RepSendRecord, phone: str | None) -> str | None:
    body = (record.body or "").strip()
    again = "then set the status to " + repr(cfg.send_status) + " again"
    if not body:
        return f"failed: the text is empty; write it in {cfg.body_field}, {again}"
    if len(body) > MAX_BODY:
        return (
            f"failed: the text is {len(body):,} characters; the limit is {MAX_BODY:,}. "
            f"Shorten it, {again}"
        )
    if record.contact is None:
        return "failed: this task is on no person; create it on the Lead or Contact to text"
    if not phone:
        return (
            "failed: the person has no phone number on the record; add one, then, once"
            " smsync has synced it (about a minute), set the status to "
            + repr(cfg.send_status)
            + " again"
        )
    return None


def _one(ctx: EngineContext, cfg: RepSend, record: RepSendRecord, report: RepSendReport) -> None:
    policy = policy_of(ctx)
    with ctx.store.begin() as conn:
        now = ctx.clock.now()
        state = contact_context.find_contact(conn, record.contact.id) if record.contact else None
        if record.contact is not None and (state is None or state.deleted):
            report.waiting += 1  # the pull brings the record; the next pass sends
            log.info("rep_send.unknown_contact", record=record.id)
            return
        if not rep_sends.claim(
            conn,
            record.id,
            contact=state.ref if state else None,
            owner_id=record.owner_id,
            close_follow_up=cfg.close_follow_up,
            now=now,
            worker_id=ctx.worker_id,
        ):
            return  # another pass or replica has it
        report.claimed += 1
        problem = _bad_input(cfg, record, state.phone if state else None)
        if problem is not None or state is None:
            rep_sends.decided(conn, record.id, problem or "failed: no person")
            report.failed += 1
            return
        key = rep_key(state.ref, record.id)
        decided = manual.decide(
            conn,
            policy,
            now,
            contact_id=state.ref.id,
            play=None,
            body=(record.body or "").strip(),
            claim_as=ctx.worker_id if ctx.sms is not None else None,
            key=key,
        )
        verdict = decided.result.verdict
        if verdict is Verdict.BLOCK:
            rep_sends.decided(conn, record.id, _blocked(conn, decided.result.reasons, state.phone))
            report.blocked += 1
            return
        rep_sends.queued(conn, record.id, key)
    if ctx.sms is not None and decided.row is not None:
        manual.send_now(ctx.store, ctx.sms, ctx.clock, policy, decided, worker_id=ctx.worker_id)
    elif verdict is Verdict.DEFER:
        report.queued += 1
    log.info("rep_send.claimed", record=record.id, verdict=verdict.value)


def _blocked(conn: Connection, reasons: tuple[Reason, ...], phone: str | None) -> str:
    """The first reason in words a rep reads (the codes are in `smsync explain`)."""
    reason = reasons[0] if reasons else Reason("blocked", "")
    return "blocked: " + _words(conn, reason.code, reason.detail, phone)


def _words(conn: Connection, code: str, detail: str, phone: str | None) -> str:
    if code == "opted_out":
        latest = consent.latest(conn, phone) if phone else None
        when = f" on {latest.at:%b %-d, %Y}" if latest is not None else ""
        said = latest.evidence_text if latest is not None else None
        how = f' by texting "{" ".join(said.split())[:60]}"' if said else ""
        return f"the number opted out{when}{how}; nothing was sent"
    if code == "consent_required":
        return f"no SMS consent for this number ({detail}); nothing was sent"
    if code in ("invalid_number", "landline"):
        return f"the number cannot get texts ({detail or code}); nothing was sent"
    if code == "quiet_hours":
        return f"quiet hours at the person's location ({detail}); nothing was sent"
    return f"{detail or code.replace('_', ' ')}; nothing was sent"


def _outcome(
    ctx: EngineContext, conn: Connection, row: rep_sends.RepSendRow, now: datetime
) -> RepSendOutcome | None:
    """What the record should say now; None while the text is in flight."""
    if row.result is not None:
        return RepSendOutcome(row.crm_id, row.result, done=True)
    if row.outbox_key is None:
        return None
    text = sms_outbox.by_key(conn, row.outbox_key)
    return None if text is None else _of_text(ctx, conn, row, text, now)


def _of_text(
    ctx: EngineContext,
    conn: Connection,
    row: rep_sends.RepSendRow,
    text: SmsOutboxRow,
    now: datetime,
) -> RepSendOutcome | None:
    if text.state == "sent":
        return RepSendOutcome(row.crm_id, "sent", done=True)
    if text.state in ("failed", "dead"):
        error = text.last_error or "the provider refused it"
        if error.startswith("blocked: "):
            code = error.removeprefix("blocked: ").split(",")[0].strip()
            return RepSendOutcome(
                row.crm_id, "blocked: " + _words(conn, code, "", text.to), done=True
            )
        return RepSendOutcome(row.crm_id, f"failed: {error}", done=True)
    if text.state == "pending" and text.send_at > now:
        return RepSendOutcome(
            row.crm_id,
            "queued: quiet hours at the person's location; goes out "
            + clock_words(text.send_at, owner_zone(ctx, row.owner_id)),
            done=False,
        )
    return None


def _settle(ctx: EngineContext, crm: RepSendPort, report: RepSendReport) -> None:
    with ctx.store.begin() as conn:
        now = ctx.clock.now()
        due = [
            found
            for row in rep_sends.unsettled(conn)
            if (found := _outcome(ctx, conn, row, now)) is not None
            and (found.result != row.written or found.done != row.done)
        ]
    if not due:
        return
    try:
        ok = crm.settle_rep_sends(due)
    except SmsyncError as exc:  # the next pass writes them again (an update by id)
        log.warning("rep_send.write_back_failed", error=type(exc).__name__, records=len(due))
        return
    with ctx.store.begin() as conn:
        now = ctx.clock.now()
        for outcome in due:
            if outcome.id in ok:
                rep_sends.written(conn, outcome.id, outcome.result, done=outcome.done, now=now)
                report.written += 1
                report.sent += int(outcome.done and outcome.result == "sent")
