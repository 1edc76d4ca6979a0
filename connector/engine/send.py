"""send: claim due SMS outbox rows, re-check each at the chokepoint, then send it.

The plan's decision is not the last word: consent can change between plan and send (a
STOP blocks every later play and manual send), a reply can open a conversation, a play can
expire. So `governance.evaluate` runs again, with the store as it is now, right before
the provider is called, and every such evaluation is logged.

Provider answers, in one place:

    sent                      row sent; message stored; its activity `sms:<sid>` queued
    RecipientOptedOutError    consent ledger opt-out (provider block); row failed
    UndeliverableNumberError  row failed, never retried; recorded on the contact
    other SmsRefusedError     row dead (a dead letter, with its ledger entry)
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from connector.config import Settings
from connector.domain.model import Message, Verdict
from connector.domain.policy import Policy
from connector.engine import dead_letters
from connector.engine.context import Planner
from connector.engine.decisions import record
from connector.engine.drop_tasks import call_instead
from connector.engine.links import LinkError, LinkMaker
from connector.engine.outbox_keys import fired_at
from connector.engine.send_check import LEASE_S, check
from connector.engine.send_outcomes import MAX_ATTEMPTS, RowSettler
from connector.errors import (
    AmbiguousSendError,
    FatalError,
    RateLimitedError,
    RecipientOptedOutError,
    RetriableError,
    SmsRefusedError,
    UndeliverableNumberError,
)
from connector.failures import describe
from connector.logs import mask_phone
from connector.ports import Clock, OutboundSms, SmsPort, Store
from connector.store import sms_outbox
from connector.store.heartbeat import Heartbeat
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew around the first attempt


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
    def planner(self) -> Planner | None: ...


class SendStepContext(SendContext, Protocol):
    """What the send step also needs: its lease and attempts, and the scheduler's ear."""

    @property
    def settings(self) -> Settings: ...
    def woke(self, step: str) -> None: ...


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


def policy_of(ctx: SendContext) -> Policy:
    """The planner's policy; the default (strict) policy when plays are not configured,
    so the send-time check never disappears."""
    return ctx.planner.policy if ctx.planner is not None else Policy()


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
        links: LinkMaker | None = None,
    ) -> None:
        self.links = links or LinkMaker()
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.store = store
        self.sms = sms
        self.clock = clock
        self.worker_id = worker_id
        self.policy = policy
        self.settle = RowSettler(
            store, clock, worker_id, max_attempts=max_attempts, on_sent=on_sent
        )
        self._last_error: Exception | None = None

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
                    self.settle.release(rows[index:])
                    log.warning("send.stopped", error=report.stopped, released=len(rows) - index)
                    break
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    outcome = self.settle.unexpected(row, exc)
                counter = "dead" if self.settle.buried else outcome
                setattr(report, counter, getattr(report, counter) + 1)
                if outcome == "retried" and isinstance(self._last_error, RateLimitedError):
                    self.settle.release(rows[index + 1 :])
                    report.stopped = "rate limited"
                    break
        return report

    def heartbeat(self, rows: list[SmsOutboxRow]) -> Heartbeat:
        """Keeps the claimed rows' lease while they are worked on (a slow provider)."""
        return Heartbeat(
            self.store,
            "sms_outbox",
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
        self.settle.buried = False
        outbound = self._outbound(row) if row.reconcile_first else None
        if outbound is None and row.reconcile_first:
            return "blocked"
        if outbound is not None:
            try:
                found = self._reconcile(row, outbound)
            except RetriableError as exc:
                return self.settle.ambiguous(row, exc, "reconcile failed")
            if found is not None:
                self.settle.sent(row, found)
                return "reconciled"
        held = self._recheck(row)
        if held is not None:
            return held
        outbound = outbound or self._outbound(row)
        return "blocked" if outbound is None else self._deliver(row, outbound)

    def _outbound(self, row: SmsOutboxRow) -> OutboundSms | None:
        """The text as it goes out, its tracked links made (`engine.links`); None when
        they cannot be (the row is failed with the reason)."""
        play = self.policy.plays.get(row.play) if row.play else None
        now = self.clock.now()
        with self.store.begin() as conn:
            try:
                body = self.links.body(conn, row, play, now)
            except LinkError as exc:
                sms_outbox.mark_failed(conn, row.id, f"blocked: link: {exc}", now, self.worker_id)
                log.warning("send.link_refused", play=row.play, error=str(exc))
                return None
        return OutboundSms(to=row.to, body=body, idempotency_key=row.idempotency_key)

    def _recheck(self, row: SmsOutboxRow) -> str | None:
        """The chokepoint, final before the provider: None lets the text go."""
        now = self.clock.now()
        with self.store.begin() as conn:
            evaluation = check(conn, row, self.policy, now)
            record(conn, evaluation, now, contact=row.contact, phone=row.to, play=row.play)
            codes = ", ".join(evaluation.decision.reasons)
            if evaluation.verdict is Verdict.BLOCK:
                sms_outbox.mark_failed(conn, row.id, f"blocked: {codes}", now, self.worker_id)
                play = self.policy.plays.get(row.play) if row.play else None
                fired = fired_at(row.idempotency_key)
                call_instead(conn, play, row.contact, evaluation.reasons, fired, now=now)
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
        except RecipientOptedOutError as exc:
            self.settle.provider_opt_out(row, exc)
            return "blocked"
        except UndeliverableNumberError as exc:
            self.settle.invalid_number(row, exc)
            return "failed"
        except SmsRefusedError as exc:
            return self.settle.bury(row, exc)
        except AmbiguousSendError as exc:
            return self.settle.ambiguous(row, exc, "send outcome unknown")
        except RetriableError as exc:
            self._last_error = exc
            return self.settle.retry(row, exc)
        self.settle.sent(row, message)
        return "sent"

    def _reconcile(self, row: SmsOutboxRow, outbound: OutboundSms) -> Message | None:
        """The message an earlier attempt created, if the provider has it."""
        since = row.send_at - RECONCILE_MARGIN
        with self.store.begin() as conn:
            others = sms_outbox.provider_sids_to(conn, row.to, row.id)
        return self.sms.find_send(outbound, since, exclude_sids=others)


def preview(store: Store, policy: Policy, now: datetime, limit: int = 100) -> SendReport:
    """What a run would send now, and the chokepoint's verdict on each; changes nothing."""
    report = SendReport(dry_run=True)
    with store.begin() as conn:
        for row_id in sms_outbox.due_ids(conn, now, limit):
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


def run(ctx: SendStepContext, *, dry_run: bool = False, limit: int = 100) -> SendReport:
    """The engine's send step (`smsync sync --once`, the sidecar's send job)."""
    policy = policy_of(ctx)
    if dry_run:
        return preview(ctx.store, policy, ctx.clock.now(), limit)
    if ctx.sms is None:
        return SendReport(stopped="SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
    sender = Sender(
        ctx.store,
        ctx.sms,
        ctx.clock,
        ctx.worker_id,
        policy,
        on_sent=lambda: ctx.woke("writeback"),
        lease_s=ctx.settings.claim_lease_s,
        max_attempts=ctx.settings.max_attempts_sms,
        links=LinkMaker.from_settings(ctx.settings),
    )
    return sender.drain(limit)
