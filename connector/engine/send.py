"""send: claim due SMS outbox rows, re-check each at the chokepoint, then send it.

The plan's decision is not the last word: consent can change between plan and send (a
STOP blocks every later play and manual send), a reply can open a conversation, a play can
expire. So `governance.evaluate` runs again, with the store as it is now, right before
the provider is called, and every such evaluation is logged.

Provider answers, in one place:

    sent                      row sent; message stored; its activity `sms:<sid>` queued
    ProviderOptOutError 21610 consent ledger opt-out (provider block); row failed
    InvalidNumberError        row failed, never retried; recorded on the contact
    other TwilioRecordError   row failed; retry ledger entry for an operator
    AmbiguousSendError        row ambiguous: reconciled against the provider before any
                              re-send (never re-POSTed blindly)
    RetriableError            row pending again after a back-off (certainly not sent)
    FatalError (auth)         the run stops; unsent rows are released

Deferred sends are pending rows whose `send_at` is in the future: they are claimed when
it arrives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
import structlog

from connector.domain import consent as consent_rules
from connector.domain.caps import SendKind
from connector.domain.governance import Evaluation, Reason, SendCandidate, evaluate
from connector.domain.instants import parse_instant
from connector.domain.model import ContactState, CrmRef, Direction, Message, Verdict
from connector.domain.plays import Play, TriggerKind
from connector.domain.policy import Policy
from connector.engine import consent_sync, contact_context, outbox, tasks
from connector.engine.contact_context import LANDLINE_ERROR
from connector.engine.decisions import record
from connector.engine.outbox_keys import fired_at, kind_of
from connector.errors import FatalError, RateLimitedError, RetriableError
from connector.logs import mask_phone, scrub_text
from connector.ports import Clock, OutboundSms, SmsPort, Store
from connector.sms.twilio.errors import (
    AmbiguousSendError,
    InvalidNumberError,
    ProviderOptOutError,
    TwilioRecordError,
)
from connector.store import claims, contacts, messages, retry, sla, sms_outbox
from connector.store import tables as tb
from connector.store.heartbeat import Heartbeat
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

LEASE_S = 30.0  # SMSYNC_CLAIM_LEASE_S's default; a heartbeat keeps it while a row is worked on
RECONCILE_AFTER = timedelta(seconds=60)  # give the provider time to list the message
RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew around the first attempt
RETRY_AFTER = timedelta(seconds=30)
MAX_RETRY_AFTER = timedelta(hours=1)  # a provider's Retry-After is honoured up to this
PROVIDER_OPT_OUT = 21610


@runtime_checkable
class Reconciling(Protocol):
    def reconcile(
        self, sms: OutboundSms, since: datetime, *, exclude_sids: Any = ()
    ) -> Message | None: ...


class SendContext(Protocol):
    """What the send step needs of the engine context (`EngineContext` fits)."""

    @property
    def store(self) -> Store: ...
    @property
    def sms(self) -> SmsPort | None: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def worker_id(self) -> str: ...
    @property
    def planner(self) -> object | None: ...


@dataclass
class SendReport:
    """What one run did; `would_send` lists the dry run's verdicts (nothing is changed)."""

    claimed: int = 0
    sent: int = 0
    reconciled: int = 0
    deferred: int = 0
    blocked: int = 0
    failed: int = 0
    ambiguous: int = 0
    retried: int = 0
    stopped: str | None = None
    dry_run: bool = False
    would_send: list[dict[str, object]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "reconciled": self.reconciled,
            "deferred": self.deferred,
            "blocked": self.blocked,
            "failed": self.failed,
            "ambiguous": self.ambiguous,
            "retried": self.retried,
        }


def policy_of(ctx: object) -> Policy:
    """The planner's policy; the default (strict) policy when plays are not configured,
    so the send-time check never disappears."""
    found = getattr(getattr(ctx, "planner", None), "policy", None)
    return found if isinstance(found, Policy) else Policy()


def _blocked(code: str, detail: str) -> Evaluation:
    return Evaluation(Verdict.BLOCK, (Reason(code, detail),))


def _state_for(conn: sa.Connection, row: SmsOutboxRow) -> ContactState:
    state = contacts.get(conn, row.contact) if row.contact is not None else None
    if state is None:
        return ContactState(ref=row.contact or CrmRef("unknown", ""), phone=row.to)
    return state if state.phone == row.to else replace(state, phone=row.to)


def _date_moved(play: Play, state: ContactState, fired: datetime | None) -> str | None:
    """Why a reminder queued for a date no longer applies (the meeting moved or was
    cleared), or None. The new date queues its own reminder when it comes due."""
    trigger = play.trigger
    if trigger.kind is not TriggerKind.DATE_APPROACHING or trigger.field is None:
        return None
    when = parse_instant(state.segments.get(trigger.field))
    if when is None:
        return f"{trigger.field} is empty now"
    if fired is not None and when - trigger.before != fired:
        planned = fired + trigger.before
        return f"{trigger.field} moved; the reminder was for {planned:%Y-%m-%d %H:%M} UTC"
    return None


def check(conn: sa.Connection, row: SmsOutboxRow, policy: Policy, now: datetime) -> Evaluation:
    """The chokepoint's verdict on a queued text, with the store as it is now."""
    state = _state_for(conn, row)
    kind = kind_of(row.idempotency_key)
    play = policy.plays.get(row.play) if row.play else None
    if kind is SendKind.PLAY and play is None:
        return _blocked("unknown_play", f"play {row.play!r} is not in the plays file")
    if play is not None and kind is SendKind.PLAY:
        moved = _date_moved(play, state, fired_at(row.idempotency_key))
        if moved is not None:
            return _blocked("trigger_changed", moved)
    ctx = contact_context.load(
        conn, state, exclude_outbox_id=row.id, default_zone=policy.quiet_hours.default_zone
    )
    candidate = SendCandidate(
        kind, play, fired_at(row.idempotency_key) if kind is SendKind.PLAY else None, row.body
    )
    return evaluate(candidate, ctx, policy, now)


def retry_delay(retry_after: float | None) -> timedelta:
    """When a throttled or failed send goes again: the provider's Retry-After (within
    `MAX_RETRY_AFTER`, so a bogus one cannot park a text for days), else 30 s."""
    if not retry_after:
        return RETRY_AFTER
    return min(timedelta(seconds=max(retry_after, 0.0)), MAX_RETRY_AFTER)


def claim_one(
    conn: sa.Connection, row_id: int, worker_id: str, now: datetime, lease_s: float = LEASE_S
) -> SmsOutboxRow | None:
    """Lease one pending, due row (a manual send going out at once)."""
    t = tb.sms_outbox
    where = sa.and_(t.c.id == row_id, t.c.state == "pending", t.c.send_at <= now)
    rows = claims.claim(
        conn, t, where, worker_id=worker_id, limit=1, lease_seconds=lease_s, now=now
    )
    return sms_outbox.get(conn, row_id) if rows else None


class Sender:
    """One worker's pass over the SMS outbox."""

    def __init__(
        self,
        store: Store,
        sms: SmsPort,
        clock: Clock,
        worker_id: str,
        policy: Policy,
        *,
        on_sent: Callable[[], object] | None = None,
        lease_s: float = LEASE_S,
    ) -> None:
        self.lease_s = lease_s
        self.store = store
        self.sms = sms
        self.clock = clock
        self.worker_id = worker_id
        self.policy = policy
        self.on_sent = on_sent
        self._last_error: Exception | None = None

    def drain(self, limit: int = 100) -> SendReport:
        report = SendReport()
        now = self.clock.now()
        with self.store.begin() as conn:
            rows = sms_outbox.claim(conn, self.worker_id, limit, self.lease_s, now)
        report.claimed = len(rows)
        with self.heartbeat(rows):
            for index, row in enumerate(rows):
                try:
                    outcome = self.process(row)
                except FatalError as exc:
                    report.stopped = scrub_text(str(exc))
                    self._release(rows[index:])
                    log.warning("send.stopped", error=report.stopped, released=len(rows) - index)
                    break
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome == "retried" and isinstance(self._last_error, RateLimitedError):
                    self._release(rows[index + 1 :])
                    report.stopped = "rate limited"
                    break
        return report

    def heartbeat(self, rows: list[SmsOutboxRow]) -> Heartbeat:
        """Keeps the claimed rows' lease while they are worked on (a slow provider)."""
        return Heartbeat(
            self.store,
            tb.sms_outbox,
            [row.id for row in rows],
            worker_id=self.worker_id,
            lease_s=self.lease_s,
            clock=self.clock,
        )

    def process(self, row: SmsOutboxRow) -> str:
        """Settle one claimed row; returns the report counter it adds to."""
        self._last_error = None
        outbound = OutboundSms(to=row.to, body=row.body, idempotency_key=row.idempotency_key)
        if row.reconcile_first:
            try:
                found = self._reconcile(row, outbound)
            except RetriableError as exc:
                self._settle_ambiguous(row, f"reconcile failed: {type(exc).__name__}")
                return "ambiguous"
            if found is not None:
                self._record_sent(row, found)
                return "reconciled"
        held = self._recheck(row)
        return held if held is not None else self._deliver(row, outbound)

    def _recheck(self, row: SmsOutboxRow) -> str | None:
        """The chokepoint, final before the provider: None lets the text go."""
        now = self.clock.now()
        with self.store.begin() as conn:
            evaluation = check(conn, row, self.policy, now)
            record(conn, evaluation, now, contact=row.contact, phone=row.to, play=row.play)
            codes = ", ".join(evaluation.decision.reasons)
            if evaluation.verdict is Verdict.BLOCK:
                sms_outbox.mark_failed(conn, row.id, f"blocked: {codes}", now, self.worker_id)
                return "blocked"
            if evaluation.verdict is Verdict.DEFER:
                assert evaluation.send_at is not None
                sms_outbox.retry_later(
                    conn, row.id, f"deferred: {codes}", evaluation.send_at, self.worker_id
                )
                return "deferred"
        return None

    def _deliver(self, row: SmsOutboxRow, outbound: OutboundSms) -> str:
        try:
            message = self.sms.send(outbound)
        except ProviderOptOutError as exc:
            self._provider_opt_out(row, exc)
            return "blocked"
        except InvalidNumberError as exc:
            self._invalid_number(row, exc)
            return "failed"
        except TwilioRecordError as exc:
            self._record_failure(row, exc)
            return "failed"
        except AmbiguousSendError as exc:
            self._settle_ambiguous(row, scrub_text(str(exc)))
            return "ambiguous"
        except RetriableError as exc:
            self._last_error = exc
            delay = retry_delay(exc.retry_after)
            with self.store.begin() as conn:
                sms_outbox.retry_later(
                    conn, row.id, scrub_text(str(exc)), self.clock.now() + delay, self.worker_id
                )
            return "retried"
        self._record_sent(row, message)
        return "sent"

    # -- outcomes ------------------------------------------------------------------------

    def _reconcile(self, row: SmsOutboxRow, outbound: OutboundSms) -> Message | None:
        """The message an earlier attempt created, if the provider has it."""
        since = row.send_at - RECONCILE_MARGIN
        with self.store.begin() as conn:
            t = tb.sms_outbox
            others = {
                sid
                for (sid,) in conn.execute(
                    sa.select(t.c.provider_sid).where(
                        t.c.to_number == row.to, t.c.id != row.id, t.c.provider_sid.is_not(None)
                    )
                )
            }
        if isinstance(self.sms, Reconciling):
            return self.sms.reconcile(outbound, since, exclude_sids=others)
        hits = [
            m
            for m in self.sms.find_sent(row.to, since)
            if m.direction is Direction.OUTBOUND and m.body == row.body and m.sid not in others
        ]
        return min(hits, key=lambda m: m.at) if hits else None

    def _record_sent(self, row: SmsOutboxRow, message: Message) -> None:
        now = self.clock.now()
        sent = replace(message, play=row.play, body=message.body or row.body)
        with self.store.begin() as conn:
            sms_outbox.mark_sent(conn, row.id, message.sid, now, self.worker_id)
            stored = messages.upsert(conn, sent, now, contact=row.contact)
            if row.contact is not None:
                outbox.put(conn, tasks.activity(stored, row.contact), now)
                if kind_of(row.idempotency_key) is SendKind.MANUAL:
                    timer = sla.open_timer(conn, row.contact)
                    if timer is not None:  # the rep answered: their SLA is met
                        sla.meet(conn, row.contact, timer.timer.kind, now)
        log.info("send.sent", sid=message.sid, to=mask_phone(row.to), play=row.play)
        if self.on_sent is not None:
            self.on_sent()

    def _provider_opt_out(self, row: SmsOutboxRow, exc: ProviderOptOutError) -> None:
        now = self.clock.now()
        entry = consent_rules.from_provider_block(
            phone=row.to, at=now, message_sid=None, error_code=PROVIDER_OPT_OUT
        )
        with self.store.begin() as conn:
            consent_sync.record_event(conn, entry, now, also=[row.contact] if row.contact else [])
            self._refused(
                conn,
                row,
                _blocked("provider_opt_out", f"the provider refused ({exc.code}): opted out"),
                f"provider_opt_out: {exc.code}",
                now,
            )
        log.warning("send.provider_opt_out", to=mask_phone(row.to), code=exc.code)

    def _refused(
        self,
        conn: sa.Connection,
        row: SmsOutboxRow,
        verdict: Evaluation,
        error: str,
        now: datetime,
    ) -> None:
        """The provider's final no: the row fails and the decision log says why."""
        sms_outbox.mark_failed(conn, row.id, error, now, self.worker_id)
        record(conn, verdict, now, contact=row.contact, phone=row.to, play=row.play)

    def _invalid_number(self, row: SmsOutboxRow, exc: InvalidNumberError) -> None:
        now = self.clock.now()
        code = "invalid_number" if exc.code == "21211" else LANDLINE_ERROR
        with self.store.begin() as conn:
            self._refused(
                conn,
                row,
                _blocked(code, f"the provider refused the number ({exc.code})"),
                f"{code}: {exc.code}",
                now,
            )
        log.warning("send.invalid_number", to=mask_phone(row.to), code=exc.code)

    def _record_failure(self, row: SmsOutboxRow, exc: TwilioRecordError) -> None:
        now = self.clock.now()
        message = scrub_text(str(exc))
        with self.store.begin() as conn:
            sms_outbox.mark_failed(conn, row.id, message, now, self.worker_id)
            retry.record_failure(
                conn, "sms", row.idempotency_key, reason_code=exc.code, message=message, now=now
            )

    def _settle_ambiguous(self, row: SmsOutboxRow, error: str) -> None:
        now = self.clock.now()
        with self.store.begin() as conn:
            sms_outbox.mark_ambiguous(conn, row.id, error, now + RECONCILE_AFTER, self.worker_id)
        log.warning("send.ambiguous", to=mask_phone(row.to), error=error)

    def _release(self, rows: list[SmsOutboxRow]) -> None:
        now = self.clock.now()
        with self.store.begin() as conn:
            for row in rows:
                if row.reconcile_first:  # it may have gone out: keep it for reconciling
                    sms_outbox.mark_ambiguous(conn, row.id, "released", now, self.worker_id)
                else:
                    sms_outbox.retry_later(conn, row.id, "released", now, self.worker_id)


def preview(store: Store, policy: Policy, now: datetime, limit: int = 100) -> SendReport:
    """What a run would send now, and the chokepoint's verdict on each; changes nothing."""
    report = SendReport(dry_run=True)
    t = tb.sms_outbox
    with store.begin() as conn:
        ids = [
            row_id
            for (row_id,) in conn.execute(
                sa.select(t.c.id)
                .where(t.c.state == "pending", t.c.send_at <= now, claims.not_backing_off(t, now))
                .order_by(t.c.send_at, t.c.id)
                .limit(limit)
            )
        ]
        for row_id in ids:
            row = sms_outbox.get(conn, row_id)
            assert row is not None
            evaluation = check(conn, row, policy, now)
            report.would_send.append(
                {
                    "key": row.idempotency_key,
                    "to": mask_phone(row.to),
                    "play": row.play,
                    "verdict": evaluation.verdict.value,
                    "reasons": [str(r) for r in evaluation.reasons],
                    "send_at": evaluation.send_at.isoformat() if evaluation.send_at else None,
                }
            )
    return report


def run(ctx: SendContext, *, dry_run: bool = False, limit: int = 100) -> SendReport:
    """The engine's send step (`smsync sync --once`, the sidecar's send job)."""
    policy = policy_of(ctx)
    if dry_run:
        return preview(ctx.store, policy, ctx.clock.now(), limit)
    if ctx.sms is None:
        return SendReport(stopped="SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
    wake = getattr(ctx, "woke", None)
    on_sent = (lambda: wake("writeback")) if callable(wake) else None
    settings = getattr(ctx, "settings", None)
    lease_s = settings.claim_lease_s if settings is not None else LEASE_S
    sender = Sender(
        ctx.store, ctx.sms, ctx.clock, ctx.worker_id, policy, on_sent=on_sent, lease_s=lease_s
    )
    return sender.drain(limit)
