"""messages and message_events: one row per provider sid, its status moving only forward.

Every status event is kept raw in message_events, including regressions and events for a
sid not stored yet; when that message is stored later, those events are folded in.

Error codes are stored only when an INTEGER column holds them (`storable_code`): a polled
status with a nonsensical code still moves the message on, with the code unknown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef, Direction, Message, MessageStatus, advances
from connector.store.dialect import insert_if_absent, lock_row
from connector.store.tables import message_events as ev
from connector.store.tables import messages as t

INT32_MAX = 2**31 - 1


def storable_code(code: int | None) -> int | None:
    """A provider error code, or None when it is out of the column's range (Twilio's codes
    have five digits; anything else is noise that must not stop the status from applying)."""
    return code if code is not None and 0 <= code <= INT32_MAX else None


def upsert(
    conn: sa.Connection, message: Message, now: datetime, contact: CrmRef | None = None
) -> Message:
    """Store or refresh a message; its status never moves back. Returns what is stored."""
    existing = _locked(conn, message.sid)
    if existing is None:
        status, error = _fold_events(
            conn, message.sid, message.status, storable_code(message.error_code)
        )
        values: dict[str, Any] = {
            "sid": message.sid,
            "direction": message.direction.value,
            "from_number": message.from_,
            "to_number": message.to,
            "body": message.body,
            "status": status.value,
            "play": message.play,
            "error_code": error,
            "num_segments": message.num_segments,
            "contact_type": contact.object_type if contact else None,
            "contact_id": contact.id if contact else None,
            "created_at": message.at,
            "updated_at": now,
        }
        if insert_if_absent(conn, t, values, ["sid"]):
            got = get(conn, message.sid)
            assert got is not None
            return got
        existing = _locked(conn, message.sid)  # a concurrent writer stored it first
        assert existing is not None
    current = MessageStatus(existing.status)
    update: dict[str, Any] = {
        "body": message.body or existing.body,
        "play": message.play or existing.play,
        "num_segments": message.num_segments,
        "updated_at": now,
    }
    if contact is not None:
        update |= {"contact_type": contact.object_type, "contact_id": contact.id}
    if advances(current, message.status):
        update["status"] = message.status.value
        if storable_code(message.error_code) is not None:
            update["error_code"] = storable_code(message.error_code)
    conn.execute(sa.update(t).where(t.c.sid == message.sid).values(**update))
    got = get(conn, message.sid)
    assert got is not None
    return got


def apply_status(
    conn: sa.Connection,
    sid: str,
    status: MessageStatus,
    *,
    at: datetime,
    now: datetime,
    error_code: int | None = None,
    raw: dict[str, Any] | None = None,
) -> bool:
    """Apply a status callback. True when it moved the message forward; a regression, a
    repeat or an unknown sid returns False. The raw event is kept either way."""
    error_code = storable_code(error_code)
    existing = _locked(conn, sid)
    applied = existing is not None and advances(MessageStatus(existing.status), status)
    conn.execute(
        sa.insert(ev).values(
            sid=sid,
            status=status.value,
            error_code=error_code,
            applied=applied,
            raw=raw,
            at=at,
            received_at=now,
        )
    )
    if applied:
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        if error_code is not None:
            values["error_code"] = error_code
        conn.execute(sa.update(t).where(t.c.sid == sid).values(**values))
    return applied


def get(conn: sa.Connection, sid: str) -> Message | None:
    row = conn.execute(sa.select(t).where(t.c.sid == sid)).one_or_none()
    return None if row is None else _message(row)


def contact_of(conn: sa.Connection, sid: str) -> CrmRef | None:
    row = conn.execute(
        sa.select(t.c.contact_type, t.c.contact_id).where(t.c.sid == sid)
    ).one_or_none()
    if row is None or row.contact_type is None or row.contact_id is None:
        return None
    return CrmRef(row.contact_type, row.contact_id)


def events(conn: sa.Connection, sid: str) -> list[tuple[MessageStatus, bool]]:
    """Every raw status event for the sid, in arrival order, with whether it applied."""
    rows = conn.execute(
        sa.select(ev.c.status, ev.c.applied).where(ev.c.sid == sid).order_by(ev.c.id)
    )
    return [(MessageStatus(r.status), bool(r.applied)) for r in rows]


def for_contact(conn: sa.Connection, contact: CrmRef, limit: int = 100) -> list[Message]:
    rows = conn.execute(
        sa.select(t)
        .where(t.c.contact_type == contact.object_type, t.c.contact_id == contact.id)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(limit)
    ).all()
    return [_message(row) for row in rows]


def last_play_to(conn: sa.Connection, phone: str, since: datetime) -> str | None:
    """The play of the latest outbound text to `phone` sent at or after `since` (a reply
    answers the last play that texted the number: its task names it, and consent by
    purpose revokes its purpose; `ix_messages_direction_created_at` covers the probe)."""
    row = conn.execute(
        sa.select(t.c.play)
        .where(
            t.c.direction == Direction.OUTBOUND.value,
            t.c.created_at >= since,
            t.c.to_number == phone,
            t.c.play.is_not(None),
        )
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return str(row) if row else None


def _locked(conn: sa.Connection, sid: str) -> sa.Row[Any] | None:
    return conn.execute(lock_row(conn, sa.select(t).where(t.c.sid == sid))).one_or_none()


def _fold_events(
    conn: sa.Connection, sid: str, status: MessageStatus, error_code: int | None
) -> tuple[MessageStatus, int | None]:
    """Status events that arrived before the message row: the furthest one wins."""
    rows = conn.execute(
        sa.select(ev.c.status, ev.c.error_code).where(ev.c.sid == sid).order_by(ev.c.id)
    )
    for row in rows:
        candidate = MessageStatus(row.status)
        if advances(status, candidate):
            status = candidate
            error_code = row.error_code if row.error_code is not None else error_code
    return status, error_code


def _message(row: sa.Row[Any]) -> Message:
    return Message(
        sid=row.sid,
        direction=Direction(row.direction),
        from_=row.from_number,
        to=row.to_number,
        body=row.body,
        status=MessageStatus(row.status),
        at=row.created_at,
        play=row.play,
        error_code=row.error_code,
        num_segments=row.num_segments,
    )


def last_inbound_at(conn: sa.Connection, phone: str) -> datetime | None:
    """When `phone` last texted us (None: never)."""
    at: datetime | None = conn.execute(
        sa.select(sa.func.max(t.c.created_at)).where(
            t.c.from_number == phone, t.c.direction == "inbound"
        )
    ).scalar_one_or_none()
    return at


def last_inbound_of(conn: sa.Connection, phones: Iterable[str]) -> dict[str, datetime]:
    """`last_inbound_at` of many numbers in one query; a number that never texted us is
    absent."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    rows = conn.execute(_LAST_INBOUND_OF, {"phones": wanted})
    return {row.from_number: row.last for row in rows}


_LAST_INBOUND_OF = (
    sa.select(t.c.from_number, sa.func.max(t.c.created_at).label("last"))
    .where(t.c.from_number.in_(sa.bindparam("phones", expanding=True)), t.c.direction == "inbound")
    .group_by(t.c.from_number)
)
