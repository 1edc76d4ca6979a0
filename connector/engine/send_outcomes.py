"""How each answer of the provider settles a claimed SMS-outbox row (the table is in
`connector/engine/send.py`): sent and recorded, refused for good (opt-out, invalid number,
any other refusal: dead-lettered), retried after a back-off, or left ambiguous for
reconciliation before any re-send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from connector.domain import consent as consent_rules
from connector.domain.caps import SendKind
from connector.domain.governance import Evaluation
from connector.domain.model import Message
from connector.engine import consent_sync, crm_records, dead_letters, outbox
from connector.engine.dead_letters import DeadLetter
from connector.engine.decisions import record
from connector.engine.outbox_keys import kind_of
from connector.engine.send_check import blocked
from connector.errors import (
    RateLimitedError,
    RecipientOptedOutError,
    RetriableError,
    SmsRefusedError,
    UndeliverableNumberError,
)
from connector.failures import backoff, describe, permanent
from connector.logs import mask_phone
from connector.ports import Clock, Connection, Store
from connector.store import messages, rep_sends, sms_outbox
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

RECONCILE_AFTER = timedelta(seconds=60)  # give the provider time to list the message
RETRY_AFTER = timedelta(seconds=30)  # after the first failure; doubles up to RETRY_CAP
RETRY_CAP = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=1)  # a provider's Retry-After is honoured up to this
MAX_ATTEMPTS = 10  # SMSYNC_MAX_ATTEMPTS_SMS's default


def retry_delay(retry_after: float | None, otherwise: timedelta = RETRY_AFTER) -> timedelta:
    """When a throttled or failed send goes again: the provider's Retry-After (within
    `MAX_RETRY_AFTER`, so a bogus one cannot park a text for days), else `otherwise`."""
    if not retry_after:
        return otherwise
    return min(timedelta(seconds=max(retry_after, 0.0)), MAX_RETRY_AFTER)


class RowSettler:
    """Settles claimed rows for one worker; `buried` says whether the last row settled was
    dead-lettered (a drain counts it as dead, a single send as failed)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        worker_id: str,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        on_sent: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.on_sent = on_sent
        self.buried = False

    def sent(self, row: SmsOutboxRow, message: Message) -> None:
        now = self.clock.now()
        sent = replace(message, play=row.play, body=message.body or row.body)
        with self.store.begin() as conn:
            sms_outbox.mark_sent(conn, row.id, message.sid, now, self.worker_id)
            stored = messages.upsert(conn, sent, now, contact=row.contact)
            if row.contact is not None:
                # a rep's text from the CRM is the rep's activity; others the owner's
                rep = rep_sends.by_key(conn, row.idempotency_key)
                logged = crm_records.logged(conn, stored, row.contact)
                if rep is not None:  # the rep's activity, on the rep's own record if it can
                    fields = {**logged.fields, "into_record": rep.crm_id}
                    logged = replace(
                        logged, owner_id=rep.owner_id or logged.owner_id, fields=fields
                    )
                outbox.put(conn, logged, now)
                if kind_of(row.idempotency_key) is SendKind.MANUAL:
                    # the rep answered: SLA met, follow-up closed, the record's fields too
                    close = rep.close_follow_up if rep is not None else True
                    crm_records.rep_answered(conn, row.contact, now, now, close_task=close)
        log.info("send.sent", sid=message.sid, to=mask_phone(row.to), play=row.play)
        if self.on_sent is not None:
            self.on_sent()

    def provider_opt_out(self, row: SmsOutboxRow, exc: RecipientOptedOutError) -> None:
        now = self.clock.now()
        entry = consent_rules.from_provider_block(
            phone=row.to, at=now, message_sid=None, error_code=exc.code
        )
        with self.store.begin() as conn:
            consent_sync.record_event(conn, entry, now, also=[row.contact] if row.contact else [])
            self.refused(
                conn,
                row,
                blocked("provider_opt_out", f"the provider refused ({exc.code}): opted out"),
                f"provider_opt_out: {exc.code}",
                now,
            )
        log.warning("send.provider_opt_out", to=mask_phone(row.to), code=exc.code)

    def refused(
        self,
        conn: Connection,
        row: SmsOutboxRow,
        verdict: Evaluation,
        error: str,
        now: datetime,
    ) -> None:
        """The provider's final no: the row fails and the decision log says why."""
        sms_outbox.mark_failed(conn, row.id, error, now, self.worker_id)
        record(conn, verdict, now, contact=row.contact, phone=row.to, play=row.play)

    def invalid_number(self, row: SmsOutboxRow, exc: UndeliverableNumberError) -> None:
        now = self.clock.now()
        code = exc.failure.value  # "invalid_number", or "landline" (LANDLINE_ERROR)
        with self.store.begin() as conn:
            self.refused(
                conn,
                row,
                blocked(code, f"the provider refused the number ({exc.code})"),
                f"{code}: {exc.code}",
                now,
            )
        log.warning("send.invalid_number", to=mask_phone(row.to), code=exc.code)

    def bury(self, row: SmsOutboxRow, exc: Exception, *, maybe_sent: bool = False) -> str:
        """Dead-letter the text: never sent again (`maybe_sent`: an earlier attempt may
        have reached the provider, which an operator can check by its idempotency key)."""
        self.buried = True
        letter = DeadLetter.of("sms", row.id, row.idempotency_key, row.attempts, exc)
        if isinstance(exc, SmsRefusedError):
            letter = replace(letter, why="permanent", reason=exc.code or letter.reason)
        if maybe_sent:
            letter = replace(letter, detail=f"possibly sent, never re-sent: {letter.detail}")
        with self.store.begin() as conn:
            dead_letters.bury(conn, letter, self.clock.now(), self.worker_id)
        return "failed"

    def last_try(self, row: SmsOutboxRow) -> bool:
        return row.attempts >= self.max_attempts

    def retry(self, row: SmsOutboxRow, exc: RetriableError) -> str:
        """Certainly not sent: again after a back-off, or dead on its last attempt. A 429
        is the provider's pace, not the row's failure: it keeps its attempt."""
        throttled = isinstance(exc, RateLimitedError)
        if self.last_try(row) and not throttled:
            return self.bury(row, exc)
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

    def ambiguous(self, row: SmsOutboxRow, exc: Exception, what: str) -> str:
        """Maybe sent: reconcile before any re-send, or dead on its last attempt."""
        if self.last_try(row):
            return self.bury(row, exc, maybe_sent=True)
        now = self.clock.now()
        error = f"{what}: {describe(exc)}"
        wait = backoff(row.attempts, RECONCILE_AFTER.total_seconds(), RETRY_CAP.total_seconds())
        with self.store.begin() as conn:
            sms_outbox.mark_ambiguous(conn, row.id, error, now + wait, self.worker_id)
        log.warning("send.ambiguous", to=mask_phone(row.to), error=error)
        return "ambiguous"

    def unexpected(self, row: SmsOutboxRow, exc: Exception) -> str:
        """An error no answer above expects, perhaps after the provider took the text: the
        row is reconciled before any re-send, or dead-lettered (refused data, last try)."""
        log.warning("send.row_failed", key=row.idempotency_key, error=describe(exc))
        if permanent(exc):
            return self.bury(row, exc, maybe_sent=True)
        return self.ambiguous(row, exc, "unexpected error")

    def release(self, rows: list[SmsOutboxRow]) -> None:
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
