"""The reconciliation poll: what webhooks never delivered, fetched through the SMS port.

Twilio retries a webhook at most once, so a receiver that was down, or a network that lost
both tries, would lose a reply for good. The poll asks the provider for every message of
ours since a cursor (`SmsPort.reconcile`) and feeds the events into the same inbox as the
webhooks, where the provider id (MessageSid, or MessageSid:status) deduplicates them
against what already arrived; a new status also moves the message's state machine, as
the webhook intake does.

The cursor is a server value (the newest sent time listed, and its id), never the local
clock; each poll starts a lookback window before it, since a message can become visible
in the list after a newer one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from connector.ports import Connection, Cursor, InboundSms, SmsPort, StatusUpdate, Store
from connector.store import cursors, inbox, messages

log = structlog.get_logger(__name__)

CURSOR_NAME = "twilio:messages"  # the stored name, kept from before the poll was the port's
LOOKBACK = timedelta(minutes=5)
FIRST_WINDOW = timedelta(days=1)  # how far back the very first poll looks
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PollResult:
    listed: int
    inbound_new: int
    status_new: int
    cursor: Cursor | None


def store_events(
    conn: Connection, events: Iterable[InboundSms | StatusUpdate], now: datetime
) -> tuple[int, int]:
    """Insert listed events into the inbox; (new inbound, new status) counts."""
    new_inbound = new_status = 0
    for event in events:
        if isinstance(event, InboundSms):
            if inbox.insert_if_new(conn, event.provider_id, "inbound", event.payload("poll"), now):
                new_inbound += 1
            continue
        if inbox.insert_if_new(conn, event.provider_id, "status", event.payload("poll"), now):
            new_status += 1
            messages.apply_status(
                conn,
                event.sid,
                event.status,
                at=event.at,
                now=now,
                error_code=event.error_code,
                raw={"source": "poll", "status": event.status.value},
            )
    return new_inbound, new_status


def poll(
    sms: SmsPort,
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
        log.warning("reconcile.cursor_in_future", cursor=cursor.modstamp.isoformat())
    since = cursor.modstamp - lookback if cursor is not None else started - first_window
    found = sms.reconcile(since)
    newest = cursor
    mark = found.newest
    if mark is not None and (
        newest is None or (mark.modstamp, mark.id) > (newest.modstamp, newest.id)
    ):
        newest = mark
    with store.begin() as conn:
        new_inbound, new_status = store_events(conn, found.events, started)
        if newest is not None and newest != cursor:
            cursors.set_(conn, CURSOR_NAME, newest, started)
    if new_inbound or new_status:
        log.info("reconcile.recovered", inbound=new_inbound, status=new_status, listed=found.listed)
    return PollResult(found.listed, new_inbound, new_status, newest)
