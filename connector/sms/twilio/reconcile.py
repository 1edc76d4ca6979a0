"""The reconciliation poll: what webhooks never delivered, fetched from Twilio's list.

Twilio retries a webhook at most once, so a receiver that was down, or a network that lost
both tries, would lose a reply for good. The poll pages through the account's messages
sent since a cursor and feeds them into the same inbox as the webhooks, where the provider
id (MessageSid, or MessageSid:status) deduplicates them against what already arrived.

The cursor is a server value (the newest DateSent seen, and its sid), never the local
clock; each poll starts a lookback window before it, since a message can become visible
in the list after a newer one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from connector.domain.model import MessageStatus
from connector.ports import Cursor, Store
from connector.sms.twilio.client import TwilioSms, parse_date
from connector.sms.twilio.webhooks import InboundEvent, StatusEvent
from connector.store import cursors, inbox, messages

log = structlog.get_logger(__name__)

CURSOR_NAME = "twilio:messages"
LOOKBACK = timedelta(minutes=5)
FIRST_WINDOW = timedelta(days=1)  # how far back the very first poll looks
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PollResult:
    listed: int
    inbound_new: int
    status_new: int
    cursor: Cursor | None


def _ours(resource: dict[str, Any], numbers: set[str], service: str | None) -> bool:
    own = resource.get("to") if resource.get("direction") == "inbound" else resource.get("from")
    return own in numbers or (
        service is not None and resource.get("messaging_service_sid") == service
    )


def inbound_event(resource: dict[str, Any]) -> InboundEvent:
    """A listed inbound message as the webhook would have described it."""
    at = parse_date(resource.get("date_sent")) or parse_date(resource.get("date_created"))
    segments = str(resource.get("num_segments") or "1")
    media = str(resource.get("num_media") or "0")
    return InboundEvent(
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


def status_event(resource: dict[str, Any]) -> StatusEvent | None:
    """A listed outbound message's current status, as its status callback would say it."""
    try:
        status = MessageStatus(str(resource.get("status")))
    except ValueError:
        return None
    if status.rank <= MessageStatus.QUEUED.rank:
        return None  # no callback is sent for the initial status
    at = parse_date(resource.get("date_updated")) or datetime.now(UTC)
    code = resource.get("error_code")
    return StatusEvent(
        sid=str(resource["sid"]),
        status=status,
        error_code=int(code) if code not in (None, "") else None,
        at=at,
        raw=resource,
    )


def store_listed(conn: Any, resources: Iterable[dict[str, Any]], now: datetime) -> tuple[int, int]:
    """Insert listed messages into the inbox; (new inbound, new status) counts."""
    new_inbound = new_status = 0
    for resource in resources:
        if resource.get("direction") == "inbound":
            event = inbound_event(resource)
            if inbox.insert_if_new(conn, event.provider_id, "inbound", event.payload("poll"), now):
                new_inbound += 1
            continue
        status = status_event(resource)
        if status is None:
            continue
        if inbox.insert_if_new(conn, status.provider_id, "status", status.payload("poll"), now):
            new_status += 1
            messages.apply_status(
                conn,
                status.sid,
                status.status,
                at=status.at,
                now=now,
                error_code=status.error_code,
                raw={"source": "poll", "status": status.status.value},
            )
    return new_inbound, new_status


def poll(
    sms: TwilioSms,
    store: Store,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    lookback: timedelta = LOOKBACK,
    first_window: timedelta = FIRST_WINDOW,
) -> PollResult:
    """One reconciliation pass: list since the cursor, store into the inbox, move the cursor.

    The inbox rows and the new cursor commit in one transaction, so a crash repeats the
    pass (harmlessly) rather than skipping it."""
    started = now()
    with store.begin() as conn:
        cursor = cursors.get(conn, CURSOR_NAME)
    if cursor is not None and cursor.modstamp > started + FUTURE_TOLERANCE:
        log.warning("twilio.poll_cursor_in_future", cursor=cursor.modstamp.isoformat())
    since = cursor.modstamp - lookback if cursor is not None else started - first_window
    numbers = {n for n in (sms.from_,) if n}
    service = sms.messaging_service_sid
    listed = [r for r in sms.list_messages(sent_after=since) if _ours(r, numbers, service)]
    listed.reverse()  # oldest first, so the inbox keeps arrival order
    newest = cursor
    for resource in listed:
        sent = parse_date(resource.get("date_sent"))
        if sent is not None and (
            newest is None or (sent, resource["sid"]) > (newest.modstamp, newest.id)
        ):
            newest = Cursor(modstamp=sent, id=str(resource["sid"]))
    with store.begin() as conn:
        new_inbound, new_status = store_listed(conn, listed, started)
        if newest is not None and newest != cursor:
            cursors.set_(conn, CURSOR_NAME, newest, started)
    if new_inbound or new_status:
        log.info(
            "twilio.poll_recovered", inbound=new_inbound, status=new_status, listed=len(listed)
        )
    return PollResult(len(listed), new_inbound, new_status, newest)
