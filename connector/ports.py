"""The Protocols the engine depends on. Adapters implement them; the engine never imports
an adapter. Each port is one role with a few methods."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import sqlalchemy

from connector.domain.model import (
    ContactState,
    CrmRef,
    CrmWrite,
    Message,
    MessageStatus,
    WriteResult,
)
from connector.errors import SmsFailure


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
class RepSendRecord:
    """A text a rep asked the CRM to send (the mapping's `rep_send:` record): the record's
    own id, the person it is on (None: on no Lead/Contact), the rep (its owner) and body."""

    id: str
    contact: CrmRef | None
    owner_id: str | None
    body: str | None


@dataclass(frozen=True, slots=True)
class RepSendOutcome:
    """What smsync writes back on a rep's send record: the result in words and whether
    the record is finished (its status moves to the mapping's done value)."""

    id: str
    result: str
    done: bool


@runtime_checkable
class RepSendPort(Protocol):
    def rep_sends(self, limit: int) -> list[RepSendRecord]:
        """Records waiting to be sent (status = the mapping's send value), oldest first:
        ONE targeted query (SOQL on Task; a HubSpot tasks search), plus one association
        read on HubSpot when it finds any."""
        ...

    def settle_rep_sends(self, outcomes: Sequence[RepSendOutcome]) -> set[str]:
        """Write each outcome on its record (one batch call per 200/100); the ids written."""
        ...


@dataclass(frozen=True, slots=True)
class Owner:
    """A CRM user who can own records: what templates address the rep by."""

    id: str
    first_name: str | None
    last_name: str | None
    time_zone: str | None = None  # IANA; the zone the rep reads task times in

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


@runtime_checkable
class RecordLinks(Protocol):
    """A CRM adapter that can say where a rep opens a record (review tasks link the
    candidate records); an adapter without it gets ids only."""

    def record_url(self, ref: CrmRef) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OutboundSms:
    to: str
    body: str
    idempotency_key: str
    status_callback: str | None = None


# Where an SMS event came from: the provider's webhook, or the reconciliation listing.
EventSource = Literal["webhook", "poll"]


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A text a contact sent, as every provider describes it. `payload` is its inbox
    item: canonical lower-case keys the engine reads, the provider's own fields beside
    them under `raw` (kept, never read by the engine)."""

    sid: str
    from_: str
    to: str
    body: str
    at: datetime
    opt_out_type: str | None  # the provider's own opt-out verdict on the text, if it gave one
    messaging_service_sid: str | None
    num_media: int
    num_segments: int
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_id(self) -> str:
        """The inbox's unique key: each inbound message once."""
        return self.sid

    def payload(self, source: EventSource) -> dict[str, Any]:
        return {
            "source": source,
            "sid": self.sid,
            "from": self.from_,
            "to": self.to,
            "body": self.body,
            "at": self.at.isoformat(),
            "opt_out_type": self.opt_out_type,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": self.num_media,
            "num_segments": self.num_segments,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A sent text's new status, normalised: `status` in the one vocabulary and, when the
    delivery failed, `failure` saying what that means (`SmsFailure`). `error_code` is the
    provider's own code, kept as data (the CRM activity and the report show it); the
    engine decides on `failure`, never on the code."""

    sid: str
    status: MessageStatus
    at: datetime
    error_code: int | None = None
    failure: SmsFailure | None = None
    idempotency_key: str | None = None  # the send's key, when the provider echoes it back
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_id(self) -> str:
        """The inbox's unique key: each status of a message once."""
        return status_provider_id(self.sid, self.status)

    def payload(self, source: EventSource) -> dict[str, Any]:
        return {
            "source": source,
            "sid": self.sid,
            "status": self.status.value,
            "error_code": self.error_code,
            "failure": self.failure.value if self.failure is not None else None,
            "at": self.at.isoformat(),
            "idempotency_key": self.idempotency_key,
            "raw": self.raw,
        }


def status_provider_id(sid: str, status: MessageStatus | str) -> str:
    return f"{sid}:{MessageStatus(status).value}"


def failure_in(payload: dict[str, Any]) -> SmsFailure | None:
    """The `SmsFailure` a status item's payload carries (None: delivered, or in flight)."""
    value = payload.get("failure")
    return SmsFailure(value) if value else None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the provider lists since a point in time, for the events webhooks never
    delivered: oldest first, inbound texts and status updates interleaved as they
    happened. `listed` counts every message of ours the listing held (one still queued
    gives no event); `newest` is the server's mark of the newest listed (its sent time and
    id), where the next listing resumes."""

    events: Sequence[InboundSms | StatusUpdate]
    listed: int
    newest: Cursor | None


class SmsPort(Protocol):
    def send(self, sms: OutboundSms) -> Message:
        """One send. Raises RecipientOptedOutError, UndeliverableNumberError or another
        SmsRefusedError when the provider refuses the text, AmbiguousSendError when it may
        have gone out, RetriableError when it certainly did not."""
        ...

    def find_send(
        self, sms: OutboundSms, since: datetime, *, exclude_sids: Iterable[str] = ()
    ) -> Message | None:
        """The message an earlier, ambiguous attempt of `sms` created, if the provider has
        it (same recipient and body, created since `since`, none of `exclude_sids`)."""
        ...

    def reconcile(self, since: datetime) -> Reconciliation:
        """Every message of this account sent since `since`, as the events its webhooks
        would have carried (a status only once it is past queued)."""
        ...


# --- Store -------------------------------------------------------------------------------
# The engine reaches the state store through one tiny port: a transaction. Repositories in
# connector.store take the Connection it yields, so a state change and the outbox row it
# causes commit together (docs/data-flow.md: every effect leaves through a durable outbox
# row).


# The handle `Store.begin` yields: steps pass it to the store's repositories, never query it.
Connection: TypeAlias = sqlalchemy.Connection


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
