"""The Message store, its status machine, and Twilio's list filters and paging.

Messages are kept newest-first-sortable by (date_created, seq) with per-number indexes,
so `To`/`From` filtered lists and page tokens stay cheap as the store grows."""

from __future__ import annotations

import bisect
import heapq
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.sandbox.twilio.numbers import Unreachable

API_VERSION = "2010-04-01"
PRICE_PER_SEGMENT = "0.00790"
_MAX_SID = "\U0010ffff"  # sorts after every sid, to bisect past an anchor

Direction = Literal["inbound", "outbound-api", "outbound-call", "outbound-reply"]


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(when: datetime | None) -> str | None:
    """`Sun, 22 Nov 2026 19:06:26 +0000`, the only date format Twilio's v2010 API speaks.

    Written out by hand: it is locale-proof, and a list page formats 150 of them."""
    if when is None:
        return None
    w = when.astimezone(UTC)
    return (
        f"{_DAYS[w.weekday()]}, {w.day:02d} {_MONTHS[w.month - 1]} {w.year:04d} "
        f"{w.hour:02d}:{w.minute:02d}:{w.second:02d} +0000"
    )


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


class StatusDelays(BaseModel):
    """Seconds after creation (on the sandbox clock) at which each status is reached."""

    model_config = ConfigDict(extra="forbid")

    queued: float = Field(default=0.0, ge=0, description="accepted -> queued (services)")
    sending: float = Field(default=0.2, ge=0)
    sent: float = Field(default=0.5, ge=0)
    delivered: float = Field(default=2.0, ge=0)


@dataclass(slots=True)
class StoredMessage:
    sid: str
    account_sid: str
    seq: int
    direction: Direction
    status: str
    to: str
    from_: str | None
    body: str
    num_segments: int
    num_media: int
    date_created: datetime
    date_sent: datetime | None
    date_updated: datetime
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    price_unit: str = "USD"

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.date_created, self.seq)

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def resource(self) -> dict[str, Any]:
        base = self.uri()[: -len(".json")]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            # a service-sent message has no sender, hence no segments, until it is queued
            "num_segments": str(self.num_segments if self.from_ is not None else 0),
            "price": self.price,
            "price_unit": self.price_unit,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"{base}/Media.json",
                "feedback": f"{base}/Feedback.json",
            },
            "to": self.to,
            "uri": self.uri(),
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change that falls due at `due` on the sandbox clock."""

    sid: str
    status: str
    error_code: int | None = None
    error_message: str | None = None


def plan(
    created: datetime,
    *,
    initial: str,
    delays: StatusDelays,
    unreachable: Unreachable | None,
) -> list[tuple[datetime, str, int | None, str | None]]:
    """The statuses an outbound message will pass through after its initial one."""
    at = [created + timedelta(seconds=s) for s in (delays.sending, delays.sent)]
    steps: list[tuple[datetime, str, int | None, str | None]] = []
    if initial == "accepted":
        steps.append((created + timedelta(seconds=delays.queued), "queued", None, None))
    steps.append((at[0], "sending", None, None))
    if unreachable is not None and unreachable.status == "failed":
        steps.append((at[1], "failed", unreachable.error_code, unreachable.error_message))
        return steps
    steps.append((at[1], "sent", None, None))
    end = created + timedelta(seconds=delays.delivered)
    if unreachable is not None:
        steps.append((end, "undelivered", unreachable.error_code, unreachable.error_message))
    else:
        steps.append((end, "delivered", None, None))
    # a delay configured shorter than an earlier one must not reorder the machine
    for i in range(1, len(steps)):
        if steps[i][0] < steps[i - 1][0]:
            steps[i] = (steps[i - 1][0], *steps[i][1:])
    return steps


@dataclass(slots=True)
class DateFilter:
    """`DateSent`, `DateSent<` and `DateSent>`: a date means the whole GMT day."""

    on: tuple[datetime, datetime] | None = None
    after: datetime | None = None  # inclusive
    before: datetime | None = None  # inclusive for datetimes, end of day for dates

    @staticmethod
    def _parse(value: str) -> tuple[datetime, bool]:
        """(instant, is_date_only); raises ValueError on anything Twilio would reject."""
        text = value.strip()
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC), False

    @classmethod
    def from_params(cls, on: str | None, before: str | None, after: str | None) -> DateFilter:
        out = cls()
        if on:
            start, whole_day = cls._parse(on)
            end = start + timedelta(days=1) if whole_day else start + timedelta(seconds=1)
            out.on = (start, end)
        if after:
            out.after = cls._parse(after)[0]
        if before:
            instant, whole_day = cls._parse(before)
            out.before = instant + timedelta(days=1, microseconds=-1) if whole_day else instant
        return out

    def matches(self, sent: datetime | None) -> bool:
        if self.on is None and self.after is None and self.before is None:
            return True
        if sent is None:
            return False
        if self.on is not None and not self.on[0] <= sent < self.on[1]:
            return False
        if self.after is not None and sent < self.after:
            return False
        return self.before is None or sent <= self.before


@dataclass(slots=True)
class MessageStore:
    """Every message, by sid, plus newest-first orderings overall and per number."""

    by_sid: dict[str, StoredMessage] = field(default_factory=dict)
    ordered: list[tuple[datetime, int, str]] = field(default_factory=list)
    by_to: dict[str, list[tuple[datetime, int, str]]] = field(default_factory=dict)
    by_from: dict[str, list[tuple[datetime, int, str]]] = field(default_factory=dict)
    pending: list[tuple[datetime, int, Transition]] = field(default_factory=list)
    _seq: int = 0

    def clear(self) -> None:
        self.by_sid.clear()
        self.ordered.clear()
        self.by_to.clear()
        self.by_from.clear()
        self.pending.clear()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, message: StoredMessage) -> None:
        self.by_sid[message.sid] = message
        entry = (message.date_created, message.seq, message.sid)
        bisect.insort(self.ordered, entry)
        bisect.insort(self.by_to.setdefault(message.to, []), entry)
        if message.from_ is not None:
            bisect.insort(self.by_from.setdefault(message.from_, []), entry)

    def assign_sender(self, message: StoredMessage, sender: str) -> None:
        """A service picks its sender when the message is queued; index it from then on."""
        if message.from_ is None:
            message.from_ = sender
            entry = (message.date_created, message.seq, message.sid)
            bisect.insort(self.by_from.setdefault(sender, []), entry)

    def schedule(self, due: datetime, transition: Transition) -> None:
        heapq.heappush(self.pending, (due, self.next_seq(), transition))

    def due(self, now: datetime) -> list[tuple[datetime, Transition]]:
        """Pop every transition due at `now`, oldest first (per message, in plan order)."""
        out: list[tuple[datetime, Transition]] = []
        while self.pending and self.pending[0][0] <= now:
            when, _, transition = heapq.heappop(self.pending)
            out.append((when, transition))
        return out

    def select(
        self,
        *,
        to: str | None,
        from_: str | None,
        dates: DateFilter,
        older_than: tuple[datetime, int] | None = None,
        newer_than: tuple[datetime, int] | None = None,
    ) -> Iterator[StoredMessage]:
        """Matching messages, lazily: newest first, or oldest first when `newer_than`.

        Page tokens bisect straight to their anchor, so a page costs its own size."""
        if to is not None:
            candidates = self.by_to.get(to, [])
        elif from_ is not None:
            candidates = self.by_from.get(from_, [])
        else:
            candidates = self.ordered
        if newer_than is not None:
            start = bisect.bisect_right(candidates, (*newer_than, _MAX_SID))
            indexes: Iterable[int] = range(start, len(candidates))
        else:
            end = len(candidates)
            if older_than is not None:
                end = bisect.bisect_left(candidates, older_than)
            indexes = range(end - 1, -1, -1)
        for i in indexes:
            m = self.by_sid[candidates[i][2]]
            if to is not None and m.to != to:
                continue
            if from_ is not None and m.from_ != from_:
                continue
            if dates.matches(m.date_sent):
                yield m
