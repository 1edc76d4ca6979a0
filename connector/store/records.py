"""Records the store hands back where no domain record fits: rows with their bookkeeping
(ids, leases, attempts) around a domain value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.domain.model import CrmRef, CrmWrite, Decision, SlaTimer

SmsState = Literal["pending", "claimed", "sent", "failed", "ambiguous", "dead"]
CrmState = Literal["pending", "claimed", "done", "failed", "dead"]
InboxKind = Literal["inbound", "status"]
Effect = Literal["crm", "sms", "inbox"]


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    provider_id: str
    kind: InboxKind
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    processed_at: datetime | None = None
    dead_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class SmsOutboxRow:
    """A queued text. `reconcile_first` is True when an earlier attempt may have reached
    the provider (the row was ambiguous, or a claim's lease ran out): the sender must list
    the provider's messages before it sends again."""

    id: int
    idempotency_key: str
    to: str
    body: str
    send_at: datetime
    state: SmsState
    attempts: int
    contact: CrmRef | None = None
    play: str | None = None
    provider_sid: str | None = None
    last_error: str | None = None
    reconcile_first: bool = False


@dataclass(frozen=True, slots=True)
class CrmOutboxRow:
    id: int
    write: CrmWrite
    state: CrmState
    attempts: int
    crm_id: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Exhausted:
    """A claimable row of any queue that was already tried its queue's maximum number of
    times; `key` is its provider id, idempotency key or external id."""

    id: int
    key: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    """`details` holds each reason's detail and the evaluation's inputs; None for rows
    logged before they were kept (migration 0004)."""

    id: int
    contact: CrmRef | None
    phone: str | None
    decision: Decision
    play: str | None
    at: datetime
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SlaEntry:
    id: int
    contact: CrmRef
    timer: SlaTimer
    source_sid: str | None = None


@dataclass(frozen=True, slots=True)
class RetryEntry:
    id: int
    effect: Effect
    key: str
    reason_code: str
    message: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime | None = None
    resolved_at: datetime | None = None
