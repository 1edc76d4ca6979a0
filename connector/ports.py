"""The Protocols the engine depends on. Adapters implement them; the engine never imports
an adapter. Each port is one role with a few methods."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection

from connector.domain.model import ContactState, CrmRef, CrmWrite, Message, WriteResult


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental pull resumes: a server-side modstamp and the id tie-break."""

    modstamp: datetime
    id: str


@dataclass(frozen=True, slots=True)
class PullBatch:
    """Changed records and the cursor to store once they are durably applied."""

    contacts: Sequence[ContactState]
    cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class Opportunity:
    """An opportunity (Salesforce) or deal (HubSpot) as the report needs it."""

    ref: CrmRef
    stage: str | None
    amount: float | None
    owner_id: str | None
    created: datetime
    close_date: datetime | None
    is_closed: bool
    is_won: bool
    modstamp: datetime


@dataclass(frozen=True, slots=True)
class PipelineBatch:
    """Changed opportunities with their contacts and stage history (what the CRM holds now
    for each, replacing what was stored), and the cursor to store once applied."""

    opportunities: Sequence[Opportunity]
    contacts: Sequence[tuple[str, CrmRef]]  # (opportunity id, contact)
    stages: Sequence[tuple[str, str, datetime]]  # (opportunity id, stage, entered at)
    cursor: Cursor | None


@runtime_checkable
class PipelinePort(Protocol):
    def pull_pipeline(self, since: Cursor | None) -> Iterator[PipelineBatch]:
        """Opportunities changed after `since`, oldest first, each with its contact links
        and stage history, in batches; what the mapping's `pipeline:` section names."""
        ...


@dataclass(frozen=True, slots=True)
class Owner:
    """A CRM user who can own records: what templates address the rep by."""

    id: str
    first_name: str | None
    last_name: str | None

    @property
    def name(self) -> str | None:
        """First and last joined, or whichever part the CRM holds; None when it holds neither
        (a template then falls back rather than greeting with an empty name)."""
        parts = [p.strip() for p in (self.first_name, self.last_name) if p and p.strip()]
        return " ".join(parts) or None


class CrmPort(Protocol):
    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        """Changes after `since` (minus the lookback window), oldest first, deduplicated."""
        ...

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        """Every record holding this number; several matches stay several."""
        ...

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        """Upsert by external id in batches at the API's maximum; one result per write."""
        ...

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        """Which of these task external ids are marked done in the CRM (a rep closed them),
        each with when the CRM says it was completed (aware UTC; None when the CRM holds
        no time): the SLA was met then, not when smsync asked. Asked in batches of at most
        the API's page size per call."""
        ...

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        """The CRM users behind these owner ids; unknown ids are left out. Batched."""
        ...

    def probe(self) -> None:
        """May writes go again? One cheap authenticated read, which also refreshes the
        adapter's view of the API usage the CRM reports. Raises AuthError while the
        credentials are refused, QuotaExhaustedError while the usage is still past
        smsync's share (`SMSYNC_API_USAGE_STOP_SHARE`), RetriableError when the CRM does
        not answer. Writeback calls it while paused, instead of spending a batch."""
        ...


@dataclass(frozen=True, slots=True)
class OutboundSms:
    to: str
    body: str
    idempotency_key: str
    status_callback: str | None = None


class SmsPort(Protocol):
    def send(self, sms: OutboundSms) -> Message:
        """One POST. Raises RetriableError when the outcome is ambiguous."""
        ...

    def find_sent(self, to: str, since: datetime) -> list[Message]:
        """Messages to `to` since `since`, to reconcile an ambiguous send before re-sending."""
        ...


# --- Store -------------------------------------------------------------------------------
# The engine reaches the state store through one tiny port: a transaction. Repositories in
# connector.store take the Connection it yields, so a state change and the outbox row it
# causes commit together (docs/data-flow.md: every effect leaves through a durable outbox
# row).


class Store(Protocol):
    def begin(self) -> AbstractContextManager[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        ...


class IdMap(Protocol):
    """External id -> CRM id, for CRMs (objects) without a unique-value property to upsert
    on: HubSpot tasks and communications in `local_map` mode."""

    def get_many(self, external_ids: Sequence[str]) -> dict[str, str]: ...

    def put_many(self, pairs: dict[str, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str


class TokenVault(Protocol):
    """Durable home of a rotated OAuth pair (the store's `oauth_tokens` table)."""

    def load(self) -> TokenPair | None: ...

    def save(self, pair: TokenPair) -> None: ...
