"""Writeback: drain the CRM outbox through the CRM adapter, exactly once.

Rows are claimed (leased) in one transaction, written through `CrmPort.write` (which
batches at the API maximum and upserts by external id), and settled in another; a
heartbeat keeps the lease while the batch is in flight. A crash between the CRM's
acknowledgement and the settle leaves the lease to expire (one lease after the last beat);
the replay is an upsert on the same external id, so the CRM still holds one record.

Waits are capped so that writing resumes soon after the CRM does: a throttled or failing
batch comes back after `base_backoff_s` doubling up to `max_batch_backoff_s` (60 s), or
after the vendor's Retry-After when it sends one; an auth or quota stop pauses writeback
and probes the CRM until it takes writes again (`connector.engine.pause`).

A write the CRM refuses for good, or one tried `max_attempts` times (per-record failures
and whole-batch deferrals alike), is dead-lettered (connector/engine/dead_letters.py); a
write whose target record was deleted is `failed` (orphaned: nothing to do). A quota or
auth stop is not the rows' fault: they go back with their attempt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from connector.config import Settings
from connector.domain.model import WriteResult
from connector.engine import dead_letters
from connector.engine.dead_letters import DeadLetter
from connector.engine.outbox_keys import correlation_id
from connector.engine.pause import CrmPause
from connector.errors import AuthError, QuotaExhaustedError, RateLimitedError, RetriableError
from connector.failures import describe, describe_text
from connector.metrics import CRM_WRITE_STOPS, CRM_WRITES
from connector.ports import Clock, Connection, CrmPort, Store
from connector.store import crm_outbox, failure_ledger
from connector.store.heartbeat import Heartbeat
from connector.store.records import CrmOutboxRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WritebackPolicy:
    batch: int = 1000  # rows per claim: the adapter splits them at the API's maximum
    lease_s: float = 30.0  # kept by a heartbeat every lease/3 while the batch is in flight
    max_attempts: int = 8  # per-record retries before the row is left to an operator
    base_backoff_s: float = 30.0
    max_backoff_s: float = 3600.0  # a record the CRM refused (e.g. UNABLE_TO_LOCK_ROW)
    max_batch_backoff_s: float = 60.0  # a whole batch throttled or failed (429, 5xx, reset)
    auth_probe_s: float = 10.0  # paused on refused credentials: ask the CRM this often
    quota_probe_s: float = 60.0  # paused on the daily budget: re-read the usage this often

    @classmethod
    def from_settings(cls, settings: Settings) -> WritebackPolicy:
        """SMSYNC_WRITEBACK_LEASE_S and SMSYNC_MAX_ATTEMPTS_CRM: the one place the sidecar's
        job and `sync --once` read them."""
        return cls(lease_s=settings.writeback_lease_s, max_attempts=settings.max_attempts_crm)


@dataclass
class WritebackReport:
    claimed: int = 0
    written: int = 0
    created: int = 0
    retrying: int = 0
    dead: int = 0  # dead-lettered: refused by the CRM for good, or out of attempts
    orphaned: int = 0
    stopped: str | None = None  # why writeback stopped early, if it did
    errors: Counter[str] = field(default_factory=Counter)


def _backoff(policy: WritebackPolicy, attempts: int) -> timedelta:
    seconds = min(policy.base_backoff_s * (2 ** max(attempts - 1, 0)), policy.max_backoff_s)
    return timedelta(seconds=seconds)


def _batch_backoff(policy: WritebackPolicy, attempts: int, retry_after: float | None) -> timedelta:
    """The vendor's Retry-After when it sent one (within `max_backoff_s`), else the
    doubling backoff capped at `max_batch_backoff_s`: a storm drains soon after it ends."""
    if retry_after is not None:
        return timedelta(seconds=min(max(retry_after, 0.0), policy.max_backoff_s))
    return min(_backoff(policy, attempts), timedelta(seconds=policy.max_batch_backoff_s))


@dataclass(frozen=True, slots=True)
class Writeback:
    """One worker's view: where rows come from, where they go, and how to settle them."""

    store: Store
    crm: CrmPort
    clock: Clock
    crm_name: str
    worker_id: str
    policy: WritebackPolicy = field(default_factory=WritebackPolicy)
    pause: CrmPause = field(default_factory=CrmPause)  # shared with the readiness hook

    def drain(self, *, max_rounds: int | None = None) -> WritebackReport:
        """Write every due outbox row. Stops gracefully on quota or auth failure, and
        while stopped only probes the CRM (`resume`) until it takes writes again."""
        p = self.policy
        report = WritebackReport()
        if not self.resume(report):
            return report
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            with self.store.begin() as conn:
                now = self.clock.now()
                report.dead += dead_letters.bury_exhausted(conn, "crm", p.max_attempts, now)
                rows = crm_outbox.claim(
                    conn, self.worker_id, p.batch, p.lease_s, now, max_attempts=p.max_attempts
                )
            if not rows:
                break
            report.claimed += len(rows)
            beat = Heartbeat(
                self.store,
                "crm_outbox",
                [row.id for row in rows],
                worker_id=self.worker_id,
                lease_s=p.lease_s,
                clock=self.clock,
            )
            with beat:
                if not self._write(rows, report):
                    break
        return report

    def resume(self, report: WritebackReport) -> bool:
        """True when writes may go: not paused, or a due probe found the CRM back."""
        pause = self.pause
        state = pause.state
        if state is None:
            return True
        now = self.clock.now()
        if not pause.due(now):
            report.stopped = state.reason
            return False
        try:
            self.crm.probe()
        except (QuotaExhaustedError, AuthError) as exc:
            reason = _reason(exc)
            self._stop(reason, str(exc), now)
            report.stopped = reason
            log.info("writeback.still_paused", crm=self.crm_name, reason=reason, detail=str(exc))
            return False
        except RetriableError as exc:  # no answer: ask again at the next probe
            self._stop(state.reason, str(exc), now)
            report.stopped = state.reason
            return False
        paused_s = pause.lift(self.clock.now())
        log.warning("writeback.resumed", crm=self.crm_name, reason=state.reason, paused_s=paused_s)
        return True

    def _write(self, rows: list[CrmOutboxRow], report: WritebackReport) -> bool:
        """One claimed batch through the CRM; False when writeback must stop for now."""
        try:
            results = self.crm.write([row.write for row in rows])
        except (QuotaExhaustedError, AuthError) as exc:
            reason = _reason(exc)
            self._put_back(rows, str(exc))
            self._stop(reason, str(exc), self.clock.now())
            report.stopped = reason
            CRM_WRITE_STOPS.labels(self.crm_name, reason).inc()
            log.warning("writeback.stopped", crm=self.crm_name, reason=reason, detail=str(exc))
            return False
        except RetriableError as exc:
            after = self._defer(rows, exc, report)
            log.warning(
                "writeback.batch_deferred",
                crm=self.crm_name,
                rows=len(rows),
                retry_in_s=after.total_seconds(),
                detail=describe(exc),
            )
            return False
        self._settle(rows, results, report)
        return True

    def _stop(self, reason: str, detail: str, now: datetime) -> None:
        p = self.policy
        every = p.quota_probe_s if reason == "quota" else p.auth_probe_s
        self.pause.stop(self.crm_name, reason, detail, now, every)

    def _defer(
        self, rows: list[CrmOutboxRow], exc: RetriableError, report: WritebackReport
    ) -> timedelta:
        """The whole batch failed transiently: it backs off (capped, or as long as the
        vendor's Retry-After asks), except rows on their last try, which are dead-lettered.
        A throttled batch keeps its attempt: a 429 storm is the CRM's pace, and no number
        of them may bury a write."""
        throttled = isinstance(exc, RateLimitedError)
        after = _batch_backoff(self.policy, rows[0].attempts, exc.retry_after)
        error = describe(exc)
        now = self.clock.now()
        with self.store.begin() as conn:
            for row in rows:
                if throttled or row.attempts < self.policy.max_attempts:
                    crm_outbox.retry_later(
                        conn, row.id, error, now + after, self.worker_id, refunded=throttled
                    )
                    report.retrying += 1
                    continue
                letter = DeadLetter.of("crm", row.id, row.write.external_id, row.attempts, exc)
                report.dead += dead_letters.bury(conn, letter, now, self.worker_id)
        return after

    def _put_back(self, rows: list[CrmOutboxRow], error: str) -> None:
        """A stop: the CRM took none of the batch, so the claim is not an attempt."""
        with self.store.begin() as conn:
            for row in rows:
                crm_outbox.put_back(conn, row.id, error, self.worker_id)

    def _settle(
        self, rows: list[CrmOutboxRow], results: list[WriteResult], report: WritebackReport
    ) -> None:
        by_id = {r.external_id: r for r in results}
        now = self.clock.now()
        with self.store.begin() as conn:
            for row in rows:
                ext = row.write.external_id
                result = by_id.get(ext)
                if result is None:  # an adapter that lost a result must not lose the write
                    result = WriteResult(ext, ok=False, error_code="NO_RESULT", retriable=True)
                if result.ok:
                    log.debug(
                        "writeback.written",
                        correlation_id=correlation_id(ext),
                        external_id=ext,
                        created=result.created,
                    )
                    crm_outbox.mark_done(conn, row.id, result.crm_id, now, self.worker_id)
                    failure_ledger.resolve(conn, "crm", ext, now)
                    report.written += 1
                    report.created += int(result.created)
                    CRM_WRITES.labels(self.crm_name, row.write.kind, "ok").inc()
                    continue
                outcome, next_at = self._fail(conn, row, result, now, report)
                log.warning(
                    "writeback.record_failed",
                    correlation_id=correlation_id(ext),
                    external_id=ext,
                    outcome=outcome,
                    code=result.error_code,
                )
                if outcome != "dead":  # a dead letter opened its own ledger entry
                    failure_ledger.record_failure(
                        conn,
                        "crm",
                        ext,
                        reason_code=result.error_code or "UNKNOWN",
                        message=result.error_message or result.error_code or "unknown error",
                        now=now,
                        next_attempt_at=next_at,
                    )
                CRM_WRITES.labels(self.crm_name, row.write.kind, outcome).inc()

    def _fail(
        self,
        conn: Connection,
        row: CrmOutboxRow,
        result: WriteResult,
        now: datetime,
        report: WritebackReport,
    ) -> tuple[str, datetime | None]:
        """Orphaned targets fail, refused writes and exhausted retries are dead-lettered; the
        rest back off and come again."""
        message = result.error_message or result.error_code or "unknown error"
        report.errors[result.error_code or "UNKNOWN"] += 1
        if result.orphaned:
            crm_outbox.mark_failed(conn, row.id, f"orphaned: {message}", now, self.worker_id)
            report.orphaned += 1
            return "orphaned", None
        if result.retriable and row.attempts < self.policy.max_attempts:
            next_at = now + _backoff(self.policy, row.attempts)
            crm_outbox.retry_later(conn, row.id, message, next_at, self.worker_id)
            report.retrying += 1
            return "retrying", next_at
        letter = DeadLetter(
            "crm",
            row.id,
            row.write.external_id,
            row.attempts,
            "exhausted" if result.retriable else "permanent",
            result.error_code or "UNKNOWN",
            describe_text(message),
        )
        report.dead += dead_letters.bury(conn, letter, now, self.worker_id)
        return "dead", None


def _reason(exc: Exception) -> str:
    return "quota" if isinstance(exc, QuotaExhaustedError) else "auth"
