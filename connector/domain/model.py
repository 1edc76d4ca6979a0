"""Canonical records. Adapters translate CRM and provider shapes into these; nothing past
the adapters sees raw CRM field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum, unique
from typing import Literal

# Twilio's limit on one message's text, concatenated segments included (a longer body is
# refused with 21617); checked at the chokepoint and on inbound webhooks.
MAX_SMS_CHARS = 1600


@dataclass(frozen=True, slots=True)
class CrmRef:
    """A record in the CRM: its object type (Lead, Contact, contacts) and id."""

    object_type: str
    id: str

    def __str__(self) -> str:
        return f"{self.object_type}/{self.id}"


@unique
class ConsentStatus(StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"


@unique
class ConsentScope(StrEnum):
    SENDER = "sender"
    MESSAGING_SERVICE = "messaging_service"


@unique
class ConsentSource(StrEnum):
    KEYWORD = "keyword"
    WEB_FORM = "web_form"
    IMPORT = "import"
    MANUAL = "manual"
    PROVIDER_BLOCK = "provider_block"
    CRM = "crm"


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One entry of the append-only, phone-keyed consent ledger.

    Keyed by phone rather than CRM record, so a number shared by a Lead and a Contact
    shares one consent. `purpose` None holds for every purpose (`domain.purposes`)."""

    phone: str
    status: ConsentStatus
    scope: ConsentScope
    source: ConsentSource
    at: datetime
    evidence_sid: str | None = None
    evidence_text: str | None = None
    purpose: str | None = None


@unique
class TzSource(StrEnum):
    CRM_FIELD = "crm_field"  # the CRM's own time-zone field
    AREA_CODE = "area_code"  # the zones the number's prefix may ring in
    STATE = "state"  # the zones of the mapped state (the policy's region segment)
    POSTAL_CODE = "postal_code"  # the zone of the mapped postal code (a US ZIP)
    DEFAULT = "default"  # nothing known: the configured default


ZoneOrigin = tuple[str, TzSource]  # (IANA zone, where it came from)


@dataclass(frozen=True, slots=True)
class TimeZones:
    """Every zone the recipient may be in, and why. Several sources may name zones at
    once (the CRM field says London, the area code Denver): `origins` keeps each
    (zone, source) pair, `zones` the distinct zones in order, `source` the first source.
    An empty `origins` means every zone came from `source` (rows stored before origins)."""

    zones: tuple[str, ...]
    source: TzSource
    origins: tuple[ZoneOrigin, ...] = ()

    @classmethod
    def of(cls, pairs: tuple[ZoneOrigin, ...] | list[ZoneOrigin]) -> TimeZones | None:
        """From (zone, source) pairs, duplicates dropped, order kept; None when empty."""
        unique = tuple(dict.fromkeys(pairs))
        if not unique:
            return None
        zones = tuple(dict.fromkeys(zone for zone, _ in unique))
        return cls(zones, unique[0][1], unique)

    def pairs(self) -> tuple[ZoneOrigin, ...]:
        return self.origins or tuple((zone, self.source) for zone in self.zones)

    def sources_of(self, zone: str) -> tuple[TzSource, ...]:
        return tuple(source for z, source in self.pairs() if z == zone)


@unique
class SlaKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True, slots=True)
class SlaTimer:
    """Due time is counted in business hours by domain.sla; this only holds the outcome."""

    kind: SlaKind
    started: datetime
    due: datetime
    met: datetime | None = None
    breached: datetime | None = None
    escalated: datetime | None = None

    @property
    def open(self) -> bool:
        return self.met is None and self.breached is None


@dataclass(frozen=True, slots=True)
class ContactState:
    """What the connector knows of one CRM record, as of the CRM's modstamp."""

    ref: CrmRef
    phone: str | None
    time_zones: TimeZones | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    lifecycle_stage: str | None = None
    journey_state: str | None = None
    active_motion: str | None = None
    disposition: str | None = None
    consent: ConsentStatus = ConsentStatus.UNKNOWN
    sla: SlaTimer | None = None
    segments: dict[str, str] = field(default_factory=dict)
    modstamp: datetime | None = None
    deleted: bool = False


@unique
class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@unique
class MessageStatus(StrEnum):
    """Provider statuses. Outbound ones only move forward (see `rank`)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    READ = "read"
    RECEIVING = "receiving"
    RECEIVED = "received"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.ACCEPTED: 0,
    MessageStatus.SCHEDULED: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENDING: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.FAILED: 4,
    MessageStatus.CANCELED: 4,
    MessageStatus.READ: 5,
    MessageStatus.RECEIVING: 0,
    MessageStatus.RECEIVED: 1,
}
_TERMINAL = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
        MessageStatus.READ,
        MessageStatus.RECEIVED,
    }
)


def advances(current: MessageStatus, new: MessageStatus) -> bool:
    """True when `new` moves the state machine forward; a regression or repeat is ignored."""
    return new.rank > current.rank


@dataclass(frozen=True, slots=True)
class Message:
    sid: str
    direction: Direction
    from_: str
    to: str
    body: str
    status: MessageStatus
    at: datetime
    play: str | None = None
    error_code: int | None = None
    num_segments: int = 1


# The vocabulary is configurable in the mapping; these are the built-in names the
# compliance rules rely on.
OPTED_OUT = "opted_out"
HELP = "help"
UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True)
class Disposition:
    name: str
    rule: str  # which rule matched, for the decision log
    confidence: float = 1.0


WriteKind = Literal["field_update", "activity", "task"]

# Canonical keys of CrmWrite.fields. Adapters translate them through the mapping; the
# engine never names a CRM field.
#
# field_update: any canonical field of the mapping (journey_state, active_motion,
#   disposition, consent_status, consent_timestamp, consent_source, sla_due, sla_breached,
#   owner, owner_team, lifecycle_stage, time_zone), values canonical.
# activity (one per SMS, in or out):
ACTIVITY_KEYS = frozenset(
    {"message_sid", "direction", "body", "at", "status", "phone", "play", "disposition"}
)
# task (follow-up, escalation or review), rendered by the engine; owner and due ride on
# CrmWrite itself:
TASK_KEYS = frozenset({"kind", "subject", "body", "priority", "status"})
TaskPriority = Literal["high", "normal", "low"]
TaskStatus = Literal["open", "done"]


@dataclass(frozen=True, slots=True)
class CrmWrite:
    """One CRM effect, keyed by a deterministic external id so a replay is an upsert.

    Examples: ``sms:<MessageSid>`` for the activity logging a message,
    ``task:<MessageSid>:<kind>`` for a follow-up task."""

    kind: WriteKind
    external_id: str
    target: CrmRef
    fields: dict[str, object]
    owner_id: str | None = None
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    external_id: str
    ok: bool
    crm_id: str | None = None
    created: bool = False
    error_code: str | None = None
    error_message: str | None = None
    retriable: bool = False
    orphaned: bool = False  # the target was deleted or merged: never retry


@unique
class Verdict(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the governance chokepoint decided for one candidate send, and why."""

    verdict: Verdict
    reasons: tuple[str, ...]
    send_at: datetime | None = None
