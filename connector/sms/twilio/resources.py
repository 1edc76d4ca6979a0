"""Twilio's Message resource (the REST list and create answers, snake_case JSON) as the
port's types: a `Message`, or the event its webhook would have carried (`InboundSms`,
`StatusUpdate`), so a listed message and a webhook look the same to the engine."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from connector.domain.model import Direction, Message, MessageStatus
from connector.ports import InboundSms, StatusUpdate
from connector.sms.twilio.errors import failure_of


def parse_date(value: str | None) -> datetime | None:
    """Twilio's RFC 2822 dates (`Sun, 22 Nov 2026 19:06:26 +0000`), as aware UTC."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _code(resource: dict[str, Any]) -> int | None:
    code = resource.get("error_code")
    return int(code) if code not in (None, "") else None


def to_message(resource: dict[str, Any]) -> Message:
    """A Message resource as the canonical Message."""
    direction = Direction.INBOUND if resource.get("direction") == "inbound" else Direction.OUTBOUND
    try:
        status = MessageStatus(str(resource.get("status") or "queued"))
    except ValueError:
        status = MessageStatus.QUEUED
    at = parse_date(resource.get("date_created")) or parse_date(resource.get("date_sent"))
    segments = resource.get("num_segments")
    return Message(
        sid=str(resource["sid"]),
        direction=direction,
        from_=str(resource.get("from") or resource.get("messaging_service_sid") or ""),
        to=str(resource.get("to") or ""),
        body=str(resource.get("body") or ""),
        status=status,
        at=at or datetime.now(UTC),
        error_code=_code(resource),
        num_segments=max(int(str(segments)), 1) if str(segments or "").isdigit() else 1,
    )


def inbound_event(resource: dict[str, Any]) -> InboundSms:
    """A listed inbound message as the webhook would have described it."""
    at = parse_date(resource.get("date_sent")) or parse_date(resource.get("date_created"))
    segments = str(resource.get("num_segments") or "1")
    media = str(resource.get("num_media") or "0")
    return InboundSms(
        sid=str(resource["sid"]),
        from_=str(resource.get("from") or ""),
        to=str(resource.get("to") or ""),
        body=str(resource.get("body") or ""),
        at=at or datetime.now(UTC),
        opt_out_type=None,  # not in the list resource: the keyword rules classify the body
        messaging_service_sid=resource.get("messaging_service_sid"),
        num_media=int(media) if media.isdigit() else 0,
        num_segments=max(int(segments), 1) if segments.isdigit() else 1,
        raw=resource,
    )


def status_event(resource: dict[str, Any]) -> StatusUpdate | None:
    """A listed outbound message's current status, as its status callback would say it;
    None while it is still queued (no callback is sent for the initial status)."""
    try:
        status = MessageStatus(str(resource.get("status")))
    except ValueError:
        return None
    if status.rank <= MessageStatus.QUEUED.rank:
        return None
    code = _code(resource)
    return StatusUpdate(
        sid=str(resource["sid"]),
        status=status,
        at=parse_date(resource.get("date_updated")) or datetime.now(UTC),
        error_code=code,
        failure=failure_of(code),
        raw=resource,
    )


def event_of(resource: dict[str, Any]) -> InboundSms | StatusUpdate | None:
    """The event a listed message stands for (None: a send still queued)."""
    if resource.get("direction") == "inbound":
        return inbound_event(resource)
    return status_event(resource)
