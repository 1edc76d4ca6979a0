"""Twilio's webhook parameters, checked and turned into inbox items.

The inbox payload is canonical (lower-case keys the engine reads without knowing Twilio),
with Twilio's raw parameters kept beside it under `raw`, since Twilio may add parameters
at any time. The same shapes come from the reconciliation poll, so the engine cannot tell
a polled message from a webhook except by `source`.

Provider ids, the inbox's unique key: the MessageSid for an inbound message, and
MessageSid + ":" + status for a status callback (each status of a message is one event)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.domain.model import Direction, Message, MessageStatus
from connector.errors import RecordError

SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
Source = Literal["webhook", "poll"]


class MalformedWebhookError(RecordError):
    """A signed request that lacks what Twilio always sends: answered 400, stored nowhere."""


def _require(params: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise MalformedWebhookError(f"missing parameter(s): {', '.join(missing)}", code="400")
    sid = params["MessageSid"]
    if not SID.match(sid):
        raise MalformedWebhookError("MessageSid is not a Twilio message sid", code="400")


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedWebhookError(f"{name} is not an integer", code="400") from None


@dataclass(frozen=True, slots=True)
class InboundEvent:
    sid: str
    from_: str
    to: str
    body: str
    at: datetime
    opt_out_type: str | None
    messaging_service_sid: str | None
    num_media: int
    num_segments: int
    raw: dict[str, Any]

    @property
    def provider_id(self) -> str:
        return self.sid

    def payload(self, source: Source) -> dict[str, Any]:
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

    def message(self) -> Message:
        return Message(
            sid=self.sid,
            direction=Direction.INBOUND,
            from_=self.from_,
            to=self.to,
            body=self.body,
            status=MessageStatus.RECEIVED,
            at=self.at,
            num_segments=self.num_segments,
        )


@dataclass(frozen=True, slots=True)
class StatusEvent:
    sid: str
    status: MessageStatus
    error_code: int | None
    at: datetime
    raw: dict[str, Any]
    idempotency_key: str | None = None

    @property
    def provider_id(self) -> str:
        return status_provider_id(self.sid, self.status)

    def payload(self, source: Source) -> dict[str, Any]:
        return {
            "source": source,
            "sid": self.sid,
            "status": self.status.value,
            "error_code": self.error_code,
            "at": self.at.isoformat(),
            # the send's idempotency key, carried back by our StatusCallback URL
            "idempotency_key": self.idempotency_key,
            "raw": self.raw,
        }


def status_provider_id(sid: str, status: MessageStatus | str) -> str:
    return f"{sid}:{MessageStatus(status).value}"


def parse_inbound(params: Mapping[str, str], at: datetime) -> InboundEvent:
    """An inbound message; MalformedWebhookError when Twilio's fixed fields are missing."""
    _require(params, "MessageSid", "From", "To")
    return InboundEvent(
        sid=params["MessageSid"],
        from_=params["From"],
        to=params["To"],
        body=params.get("Body", ""),
        at=at,
        opt_out_type=params.get("OptOutType") or None,
        messaging_service_sid=params.get("MessagingServiceSid") or None,
        num_media=_int(params.get("NumMedia"), "NumMedia") or 0,
        num_segments=_int(params.get("NumSegments"), "NumSegments") or 1,
        raw=dict(params),
    )


def parse_status(
    params: Mapping[str, str], at: datetime, *, idempotency_key: str | None = None
) -> StatusEvent:
    """A status callback; MalformedWebhookError when its sid or status is missing or unknown.

    `idempotency_key` comes from the callback URL's query (see `client.status_callback`)."""
    _require(params, "MessageSid", "MessageStatus")
    try:
        status = MessageStatus(params["MessageStatus"].strip().lower())
    except ValueError:
        raise MalformedWebhookError("MessageStatus is not a Twilio status", code="400") from None
    return StatusEvent(
        sid=params["MessageSid"],
        status=status,
        error_code=_int(params.get("ErrorCode"), "ErrorCode"),
        at=at,
        raw=dict(params),
        idempotency_key=idempotency_key or None,
    )
