"""Writeback: drain the CRM outbox through the CRM adapter, exactly once.

Rows are claimed (leased) in one transaction, written through `CrmPort.write` (which
batches at the API maximum and upserts by external id), and settled in another. A crash
between the CRM's acknowledgement and the settle leaves the lease to expire; the replay
is an upsert on the same external id, so the CRM still holds one record.

A write the CRM refuses for good, or one tried `max_attempts` times (per-record failures
and whole-batch deferrals alike), is dead-lettered (connector/engine/dead_letters.py); a
write whose target record was deleted is `failed` (orphaned: nothing to do). A quota or
auth stop is not the rows' fault: they go back with their attempt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from connector.domain.model import WriteResult
from connector.engine import dead_letters
from connector.engine.dead_letters import DeadLetter
from connector.engine.outbox_keys import correlation_id
from connector.errors import AuthError, QuotaExhaustedError, RetriableError
from connector.failures import describe, describe_text
from connector.metrics import CRM_WRITE_STOPS, CRM_WRITES
from connector.ports import Clock, CrmPort, Store
from connector.store import crm_outbox, retry
from connector.store.records import CrmOutboxRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WritebackPolicy:
    batch: int = 1000  # rows per claim: the adapter splits them at the API's maximum
    lease_s: float = 300.0
    max_attempts: int = 8  # per-record retries before the row is left to an operator
    base_backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    quota_pause_s: float = 900.0  # a graceful stop: try again after this


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


@dataclass(frozen=True, slots=True)
class Writeback:
    """One worker's view: where rows come from, where they go, and how to settle them."""

    store: Store
    crm: CrmPort
    clock: Clock
    crm_name: str
    worker_id: str
    policy: WritebackPolicy = field(default_factory=WritebackPolicy)

    def drain(self, *, max_rounds: int | None = None) -> WritebackReport:
        """Write every due outbox row. Stops gracefully on quota or auth failure."""
        p = self.policy
        report = WritebackReport()
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
            try:
                results = self.crm.write([row.write for row in rows])
            except (QuotaExhaustedError, AuthError) as exc:
                reason = "quota" if isinstance(exc, QuotaExhaustedError) else "auth"
                self._release(rows, str(exc), timedelta(seconds=p.quota_pause_s), refund=True)
                report.stopped = reason
                CRM_WRITE_STOPS.labels(self.crm_name, reason).inc()
                log.warning("writeback.stopped", crm=self.crm_name, reason=reason, detail=str(exc))
                break
            except RetriableError as exc:
                self._defer(rows, exc, report)
                log.warning(
                    "writeback.batch_deferred", crm=self.crm_name, rows=len(rows), detail=str(exc)
                )
                break
            self._settle(rows, results, report)
        return report

    def _release(
        self, rows: list[CrmOutboxRow], error: str, after: timedelta, *, refund: bool = False
    ) -> None:
        now = self.clock.now()
        with self.store.begin() as conn:
            for row in rows:
                crm_outbox.retry_later(
                    conn, row.id, error, now + after, self.worker_id, refunded=refund
                )

    def _defer(
        self, rows: list[CrmOutboxRow], exc: RetriableError, report: WritebackReport
    ) -> None:
        """The whole batch failed transiently: it backs off, except rows on their last try."""
        now = self.clock.now()
        after, error = _backoff(self.policy, rows[0].attempts), describe(exc)
        with self.store.begin() as conn:
            for row in rows:
                if row.attempts < self.policy.max_attempts:
                    crm_outbox.retry_later(conn, row.id, error, now + after, self.worker_id)
                    report.retrying += 1
                    continue
                letter = DeadLetter.of("crm", row.id, row.write.external_id, row.attempts, exc)
                report.dead += dead_letters.bury(conn, letter, now, self.worker_id)

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
                    retry.resolve(conn, "crm", ext, now)
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
                    retry.record_failure(
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
