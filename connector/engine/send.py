"""send: claim due SMS outbox rows, re-check each at the chokepoint, then send it.

The plan's decision is not the last word: consent can change between plan and send (a
STOP blocks every later play and manual send), a reply can open a conversation, a play can
expire. So `governance.evaluate` runs again, with the store as it is now, right before
the provider is called, and every such evaluation is logged.

Provider answers, in one place:

    sent                      row sent; message stored; its activity `sms:<sid>` queued
    ProviderOptOutError 21610 consent ledger opt-out (provider block); row failed
    InvalidNumberError        row failed, never retried; recorded on the contact
    other TwilioRecordError   row dead (a dead letter, with its ledger entry)
    AmbiguousSendError        row ambiguous: reconciled against the provider before any
                              re-send (never re-POSTed blindly)
    any other exception       row ambiguous too (it may follow the provider's yes), or
                              dead at once when its own data is refused; the run goes on
    RetriableError            row pending again after an exponential back-off (certainly
                              not sent); a 429 does not count as an attempt
    FatalError (auth)         the run stops; unsent rows are released, attempt refunded

Each claim is an attempt: after `SMSYNC_MAX_ATTEMPTS_SMS` of them (retried errors,
ambiguous sends and failed reconciliations alike) the row is dead-lettered, never sent
again (connector/engine/dead_letters.py). Deferred sends are pending rows whose `send_at`
is in the future: they are claimed when it arrives; a deferral is not an attempt."""

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
from connector.engine import consent_sync, contact_context, crm_records, dead_letters, outbox
from connector.engine.contact_context import LANDLINE_ERROR
from connector.engine.dead_letters import DeadLetter
from connector.engine.decisions import record
from connector.engine.outbox_keys import fired_at, kind_of
from connector.errors import FatalError, RateLimitedError, RetriableError
from connector.failures import backoff, describe, permanent
from connector.logs import mask_phone
from connector.ports import Clock, OutboundSms, SmsPort, Store
from connector.sms.twilio.errors import (
    AmbiguousSendError,
    InvalidNumberError,
    ProviderOptOutError,
    TwilioRecordError,
)
from connector.store import claims, contacts, messages, sla, sms_outbox
from connector.store import tables as tb
from connector.store.heartbeat import Heartbeat
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

LEASE_S = 30.0  # SMSYNC_CLAIM_LEASE_S's default; a heartbeat keeps it while a row is worked on
RECONCILE_AFTER = timedelta(seconds=60)  # give the provider time to list the message
RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew around the first attempt
RETRY_AFTER = timedelta(seconds=30)  # after the first failure; doubles up to RETRY_CAP
RETRY_CAP = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=1)  # a provider's Retry-After is honoured up to this
MAX_ATTEMPTS = 10  # SMSYNC_MAX_ATTEMPTS_SMS's default
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
    dead: int = 0
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
            "dead": self.dead,
        }


def retry_delay(retry_after: float | None, otherwise: timedelta = RETRY_AFTER) -> timedelta:
    """When a throttled or failed send goes again: the provider's Retry-After (within
    `MAX_RETRY_AFTER`, so a bogus one cannot park a text for days), else `otherwise`."""
    if not retry_after:
        return otherwise
    return min(timedelta(seconds=max(retry_after, 0.0)), MAX_RETRY_AFTER)


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
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.store = store
        self.sms = sms
        self.clock = clock
        self.worker_id = worker_id
        self.policy = policy
        self.on_sent = on_sent
        self._last_error: Exception | None = None
        self._buried = False

    def drain(self, limit: int = 100) -> SendReport:
        report = SendReport()
        now = self.clock.now()
        with self.store.begin() as conn:
            report.dead += dead_letters.bury_exhausted(conn, "sms", self.max_attempts, now)
            rows = sms_outbox.claim(
                conn, self.worker_id, limit, self.lease_s, now, max_attempts=self.max_attempts
            )
        report.claimed = len(rows)
        with self.heartbeat(rows):
            for index, row in enumerate(rows):
                try:
                    outcome = self.process(row)
                except FatalError as exc:
                    report.stopped = describe(exc)
                    self._release(rows[index:])
                    log.warning("send.stopped", error=report.stopped, released=len(rows) - index)
                    break
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    outcome = self._unexpected(row, exc)
                counter = "dead" if self._buried else outcome
                setattr(report, counter, getattr(report, counter) + 1)
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
        """Settle one claimed row; returns the report counter it adds to, except that a
        dead-lettered text reads "failed" (what a single send's caller needs to know) and
        counts as "dead" in a drain's report."""
        self._last_error = None
        self._buried = False
        outbound = OutboundSms(to=row.to, body=row.body, idempotency_key=row.idempotency_key)
        if row.reconcile_first:
            try:
                found = self._reconcile(row, outbound)
            except RetriableError as exc:
                return self._settle_ambiguous(row, exc, "reconcile failed")
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
                    conn,
                    row.id,
                    f"deferred: {codes}",
                    evaluation.send_at,
                    self.worker_id,
                    refunded=True,
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
            return self._bury(row, exc)
        except AmbiguousSendError as exc:
            return self._settle_ambiguous(row, exc, "send outcome unknown")
        except RetriableError as exc:
            self._last_error = exc
            return self._retry(row, exc)
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
                outbox.put(conn, crm_records.activity(stored, row.contact), now)
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

    def _bury(self, row: SmsOutboxRow, exc: Exception, *, maybe_sent: bool = False) -> str:
        """Dead-letter the text: never sent again (`maybe_sent`: an earlier attempt may
        have reached the provider, which an operator can check by its idempotency key)."""
        self._buried = True
        letter = DeadLetter.of("sms", row.id, row.idempotency_key, row.attempts, exc)
        if isinstance(exc, TwilioRecordError):
            letter = replace(letter, why="permanent", reason=exc.code or letter.reason)
        if maybe_sent:
            letter = replace(letter, detail=f"possibly sent, never re-sent: {letter.detail}")
        with self.store.begin() as conn:
            dead_letters.bury(conn, letter, self.clock.now(), self.worker_id)
        return "failed"

    def _last_try(self, row: SmsOutboxRow) -> bool:
        return row.attempts >= self.max_attempts

    def _retry(self, row: SmsOutboxRow, exc: RetriableError) -> str:
        """Certainly not sent: again after a back-off, or dead on its last attempt. A 429
        is the provider's pace, not the row's failure: it keeps its attempt."""
        throttled = isinstance(exc, RateLimitedError)
        if self._last_try(row) and not throttled:
            return self._bury(row, exc)
        wait = backoff(row.attempts, RETRY_AFTER.total_seconds(), RETRY_CAP.total_seconds())
        delay = retry_delay(exc.retry_after, wait)
        with self.store.begin() as conn:
            sms_outbox.retry_later(
                conn,
                row.id,
                describe(exc),
                self.clock.now() + delay,
                self.worker_id,
                refunded=throttled,
            )
        return "retried"

    def _settle_ambiguous(self, row: SmsOutboxRow, exc: Exception, what: str) -> str:
        """Maybe sent: reconcile before any re-send, or dead on its last attempt."""
        if self._last_try(row):
            return self._bury(row, exc, maybe_sent=True)
        now = self.clock.now()
        error = f"{what}: {describe(exc)}"
        wait = backoff(row.attempts, RECONCILE_AFTER.total_seconds(), RETRY_CAP.total_seconds())
        with self.store.begin() as conn:
            sms_outbox.mark_ambiguous(conn, row.id, error, now + wait, self.worker_id)
        log.warning("send.ambiguous", to=mask_phone(row.to), error=error)
        return "ambiguous"

    def _unexpected(self, row: SmsOutboxRow, exc: Exception) -> str:
        """An error no answer above expects, perhaps after the provider took the text: the
        row is reconciled before any re-send, or dead-lettered (refused data, last try)."""
        log.warning("send.row_failed", key=row.idempotency_key, error=describe(exc))
        if permanent(exc):
            return self._bury(row, exc, maybe_sent=True)
        return self._settle_ambiguous(row, exc, "unexpected error")

    def _release(self, rows: list[SmsOutboxRow]) -> None:
        """Hand back rows a stopped run did not try, with their attempt."""
        now = self.clock.now()
        with self.store.begin() as conn:
            for row in rows:
                if row.reconcile_first:  # it may have gone out: keep it for reconciling
                    sms_outbox.mark_ambiguous(
                        conn, row.id, "released", now, self.worker_id, refunded=True
                    )
                else:
                    sms_outbox.retry_later(
                        conn, row.id, "released", now, self.worker_id, refunded=True
                    )


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
    max_attempts = settings.max_attempts_sms if settings is not None else MAX_ATTEMPTS
    sender = Sender(
        ctx.store,
        ctx.sms,
        ctx.clock,
        ctx.worker_id,
        policy,
        on_sent=on_sent,
        lease_s=lease_s,
        max_attempts=max_attempts,
    )
    return sender.drain(limit)
