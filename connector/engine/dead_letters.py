"""Dead letters: inbox items, texts and CRM writes smsync gave up on, kept for an operator.

A row is dead-lettered

- at once when retrying cannot help: its own data is refused (`failures.permanent`: a
  number too large for its column, text Postgres cannot store, a payload missing a field),
  the CRM refuses the write for good, or the SMS provider refuses the text for a reason
  that is not the recipient's;
- when it was tried its queue's maximum number of times (`SMSYNC_MAX_ATTEMPTS_INBOX`,
  `SMSYNC_MAX_ATTEMPTS_SMS`, `SMSYNC_MAX_ATTEMPTS_CRM`), retries backing off exponentially
  in between so a failing row never crowds out the rows behind it;
- at claim time (`bury_exhausted`), when it already reached the maximum and has failed
  before: its last failure could not be settled, or it predates the maximum (the issue's
  inbox item with 126 attempts). Attempts alone are not enough: a claim takes a batch, so
  a worker that died mid-batch added an attempt to every row waiting behind the one it
  was on, and those rows are not to blame.

A dead row is never claimed again, so a dead text is never sent. Each one keeps its error
(`last_error`), opens one retry-ledger entry (effect ``inbox``, ``sms`` or ``crm``, keyed
by provider id, idempotency key or external id), logs a ``<step>.dead_lettered`` warning
and is counted by the gauge ``smsync_dead_letters{queue}``.

``dead`` is not ``failed``: an outbox row is ``failed`` when it reached a definite outcome
nobody needs to act on (the chokepoint blocked the text, the recipient opted out or the
number is invalid, a higher-priority play took its place, the CRM record was deleted);
it is ``dead`` when smsync gave up and an operator should look."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog

from connector import failures
from connector.ports import Connection
from connector.store import crm_outbox, failure_ledger, inbox, sms_outbox
from connector.store.records import Exhausted

log = structlog.get_logger(__name__)

Queue = Literal["inbox", "sms", "crm"]
QUEUES: tuple[Queue, ...] = ("inbox", "sms", "crm")
# named for the engine step that drains each queue
EVENT: dict[Queue, str] = {
    "inbox": "ingest.dead_lettered",
    "sms": "send.dead_lettered",
    "crm": "writeback.dead_lettered",
}
Why = Literal["permanent", "exhausted"]

_BURY: dict[Queue, Callable[[Connection, int, str, datetime, str | None], bool]] = {
    "inbox": inbox.mark_dead,
    "sms": sms_outbox.bury,
    "crm": crm_outbox.bury,
}
_EXHAUSTED: dict[Queue, Callable[[Connection, int, datetime, int], list[Exhausted]]] = {
    "inbox": inbox.exhausted,
    "sms": sms_outbox.exhausted,
    "crm": crm_outbox.exhausted,
}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One row given up on. `reason` is the error class or the vendor's code; `detail` is
    an operator-safe one-liner (no SQL, parameters, bodies or whole numbers)."""

    queue: Queue
    row_id: int
    key: str
    attempts: int
    why: Why
    reason: str
    detail: str

    @classmethod
    def of(
        cls, queue: Queue, row_id: int, key: str, attempts: int, exc: BaseException
    ) -> DeadLetter:
        why: Why = "permanent" if failures.permanent(exc) else "exhausted"
        return cls(
            queue, row_id, key, attempts, why, failures.error_class(exc), failures.describe(exc)
        )


def bury(conn: Connection, letter: DeadLetter, now: datetime, worker_id: str | None = None) -> bool:
    """Dead-letter the row in `conn`'s transaction, with its ledger entry; False when
    `worker_id` no longer holds it (another worker settles it)."""
    if not _BURY[letter.queue](conn, letter.row_id, letter.detail, now, worker_id):
        return False
    failure_ledger.record_failure(
        conn,
        letter.queue,
        letter.key,
        reason_code=letter.reason[:64],
        message=f"dead letter ({letter.why}, {letter.attempts} attempts): {letter.detail}",
        now=now,
    )
    log.warning(
        EVENT[letter.queue],
        queue=letter.queue,
        row_id=letter.row_id,
        key=letter.key,
        attempts=letter.attempts,
        why=letter.why,
        error=letter.reason,
        detail=letter.detail,
    )
    return True


def bury_exhausted(
    conn: Connection, queue: Queue, max_attempts: int, now: datetime, limit: int = 100
) -> int:
    """Dead-letter the claimable rows of `queue` already tried `max_attempts` times, before
    a claim; returns how many."""
    buried = 0
    for row in _EXHAUSTED[queue](conn, max_attempts, now, limit):
        detail = failures.describe_text(row.last_error or "") or f"{row.attempts} attempts"
        letter = DeadLetter(
            queue, row.id, row.key, row.attempts, "exhausted", "attempts_exhausted", detail
        )
        buried += bury(conn, letter, now)
    return buried
