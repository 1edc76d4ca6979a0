"""Per-record failures across the three queues (CRM outbox, SMS outbox, inbox), joined
with their retry-ledger entries, as an operator reads them.

A row is a failure while it has an open retry-ledger entry (dead letters, refused or
orphaned CRM writes) and has not since succeeded, or while it waits to be tried again after
an error (a throttled batch keeps no ledger entry, but its `last_error` says why it waits).
Phone numbers in payloads are masked (`connector.logs.scrub`) and error texts are passed
through `failures.describe_text`, so the listing is safe to paste into a ticket."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from connector.failures import describe_text
from connector.logs import mask_phone, scrub, scrub_text
from connector.store.tables import crm_outbox, inbox, retry_ledger, sms_outbox

Queue = Literal["crm", "sms", "inbox"]
QUEUES: tuple[Queue, ...] = ("crm", "sms", "inbox")
# The vendor's own code inside an error text: Salesforce's REQUEST_LIMIT_EXCEEDED, HubSpot's
# RATE_LIMIT, a Twilio error number after "code".
_CODE = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b|\bcode[ =:]+(\d{4,6})\b")


class FailureIdError(ValueError):
    """An id that is not `QUEUE-NUMBER` (`crm-12`, `sms-3`, `inbox-7`)."""


@dataclass(frozen=True, slots=True)
class Failure:
    queue: Queue
    row_id: int
    key: str
    state: str
    record: str
    code: str
    message: str
    payload: dict[str, Any]
    attempts: int
    failures: int  # failures counted by the retry ledger (0: none recorded there)
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    next_retry: datetime | None
    queued_at: datetime  # when the row was queued or received

    @property
    def id(self) -> str:
        return f"{self.queue}-{self.row_id}"

    def as_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "queue": self.queue,
            "key": self.key,
            "state": self.state,
            "record": self.record,
            "code": self.code,
            "message": self.message,
            "payload": self.payload,
            "attempts": self.attempts,
            "failures": self.failures,
            "first_failed_at": when(self.first_failed_at),
            "last_failed_at": when(self.last_failed_at),
            "next_retry": when(self.next_retry),
            "queued_at": when(self.queued_at),
        }


def parse_id(text: str) -> tuple[Queue, int]:
    queue, _, number = text.strip().partition("-")
    if queue not in QUEUES or not number.isdigit():
        raise FailureIdError(
            f"{text!r} is not a failure id: use QUEUE-NUMBER as `smsync failures` lists them"
            " (crm-12, sms-3, inbox-7)"
        )
    return queue, int(number)


def vendor_code(text: str | None) -> str | None:
    """The vendor's own error code named in an error text, if it names one."""
    found = _CODE.search(text or "")
    return None if found is None else found.group(1) or found.group(2)


def _ledger(effect: Queue, key: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    r = retry_ledger.c
    return sa.and_(r.effect == effect, r.key == key, r.resolved_at.is_(None))


def _select(queue: Queue) -> sa.Select[Any]:
    r = retry_ledger.c
    ledger = [
        r.reason_code,
        r.message,
        r.attempts.label("ledger_attempts"),
        r.first_failed_at,
        r.last_failed_at,
        r.next_attempt_at.label("ledger_next"),
        r.id.label("ledger_id"),
    ]
    if queue == "crm":
        t = crm_outbox
        key = t.c.external_id
        waiting: sa.ColumnElement[bool] = t.c.state.in_(("pending", "claimed"))
        done = t.c.state == "done"
    elif queue == "sms":
        t = sms_outbox
        key = t.c.idempotency_key
        waiting = t.c.state.in_(("pending", "claimed", "ambiguous"))
        done = t.c.state == "sent"
    else:
        t = inbox
        key = t.c.provider_id
        waiting = sa.and_(t.c.processed_at.is_(None), t.c.dead_at.is_(None))
        done = t.c.processed_at.is_not(None)
    joined = t.outerjoin(retry_ledger, _ledger(queue, key))
    failing = sa.or_(
        sa.and_(r.id.is_not(None), sa.not_(done)),
        sa.and_(waiting, t.c.last_error.is_not(None)),
    )
    return sa.select(t, *ledger).select_from(joined).where(failing).order_by(t.c.id)


def _failure(queue: Queue, row: Any) -> Failure:
    error = describe_text(row.last_error or "")
    ledger_message = describe_text(row.message or "")
    if queue == "crm":
        state = row.state
        record = f"{row.target_type}/{row.target_id}"
        payload = {"kind": row.kind, "fields": scrub(dict(row.fields))}
        next_retry = row.next_attempt_at if state in ("pending", "claimed") else None
        created = row.created_at
    elif queue == "sms":
        state = row.state
        record = f"{row.contact_type}/{row.contact_id}" if row.contact_id else "-"
        payload = {"to": mask_phone(row.to_number), "body": scrub_text(row.body), "play": row.play}
        next_retry = (
            (row.next_attempt_at or row.send_at)
            if state in ("pending", "claimed", "ambiguous")
            else None
        )
        created = row.created_at
    else:
        state = "dead" if row.dead_at else "processed" if row.processed_at else "waiting"
        record = f"{row.kind}/{row.provider_id}"
        payload = scrub(dict(row.payload))
        next_retry = row.lease_until if state == "waiting" else None
        created = row.received_at
    if row.ledger_id is not None:
        code = vendor_code(row.reason_code) or row.reason_code
        message = ledger_message or error
    else:
        code = vendor_code(error) or (error.split(":", 1)[0] if error else "UNKNOWN")
        message = error
    key = (
        row.external_id
        if queue == "crm"
        else (row.idempotency_key if queue == "sms" else row.provider_id)
    )
    return Failure(
        queue=queue,
        row_id=row.id,
        key=key,
        state=state,
        record=record,
        code=code,
        message=message,
        payload=payload,
        attempts=row.attempts,
        failures=row.ledger_attempts or 0,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        next_retry=row.ledger_next if next_retry is None and state != "dead" else next_retry,
        queued_at=created,
    )


def list_failures(
    conn: sa.Connection,
    *,
    since: datetime | None = None,
    reason: str | None = None,
    queues: Iterable[Queue] = QUEUES,
) -> list[Failure]:
    """Every current failure, by queue then row; `since` keeps the ones that failed (last)
    at or after it, `reason` the ones whose code is it."""
    found: list[Failure] = []
    for queue in queues:
        for row in conn.execute(_select(queue)):
            failure = _failure(queue, row)
            last = failure.last_failed_at or failure.queued_at
            if since is not None and last < since:
                continue
            if reason is not None and failure.code != reason:
                continue
            found.append(failure)
    return found


def get_failure(conn: sa.Connection, queue: Queue, row_id: int) -> Failure | None:
    t = {"crm": crm_outbox, "sms": sms_outbox, "inbox": inbox}[queue]
    row = conn.execute(_select(queue).where(t.c.id == row_id)).first()
    return None if row is None else _failure(queue, row)
