"""inbox: every webhook and polled event lands here first, deduplicated by provider id.

The unique key in the database, not an in-process cache, makes a duplicate delivered twice,
concurrently, to two replicas produce one row (docs/reliability.md, fault 13).

An item is waiting until it is processed (`processed_at`) or dead-lettered (`dead_at`: it
could not be processed and is never claimed again; `last_error` says why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store import claims
from connector.store.dialect import insert_if_absent
from connector.store.records import Exhausted, InboxItem, InboxKind
from connector.store.tables import inbox as t

WAITING = sa.and_(t.c.processed_at.is_(None), t.c.dead_at.is_(None))


def insert_if_new(
    conn: sa.Connection,
    provider_id: str,
    kind: InboxKind,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """True only for the first delivery of `provider_id`."""
    values = {
        "provider_id": provider_id,
        "kind": kind,
        "payload": payload,
        "received_at": now,
        "attempts": 0,
    }
    return insert_if_absent(conn, t, values, ["provider_id"])


def claim(
    conn: sa.Connection,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    *,
    kind: InboxKind | None = None,
    max_attempts: int | None = None,
) -> list[InboxItem]:
    """Lease waiting items, oldest first; an expired lease (or a release's retry time
    reached) makes an item claimable again."""
    where = _claimable(now)
    if kind is not None:
        where = sa.and_(where, t.c.kind == kind)
    rows = claims.claim(
        conn,
        t,
        where,
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now,
        set_state=False,
        max_attempts=max_attempts,
    )
    return [_item(row, attempts=row.attempts + 1) for row in rows]


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(WAITING, sa.or_(t.c.lease_until.is_(None), t.c.lease_until <= now))


def exhausted(conn: sa.Connection, max_attempts: int, now: datetime, limit: int) -> list[Exhausted]:
    """Claimable items already tried `max_attempts` times."""
    return claims.exhausted(
        conn, t, _claimable(now), t.c.provider_id, max_attempts=max_attempts, limit=limit
    )


def mark_processed(
    conn: sa.Connection, item_id: int, now: datetime, worker_id: str | None = None
) -> bool:
    return claims.finish(
        conn, t, item_id, worker_id, {"processed_at": now, "lease_until": None, "last_error": None}
    )


def release(
    conn: sa.Connection,
    item_id: int,
    error: str | None,
    retry_at: datetime,
    worker_id: str | None = None,
    *,
    refunded: bool = False,
) -> bool:
    """Give an item back; it becomes claimable at `retry_at`. `refunded`: it was not tried
    (the run stopped for a reason that is not the item's), so the attempt is given back."""
    values: dict[str, Any] = {"lease_until": retry_at, "claimed_by": None}
    if error is not None:
        values["last_error"] = error
    if refunded:
        values |= claims.refund(t)
    return claims.finish(conn, t, item_id, worker_id, values)


def mark_dead(
    conn: sa.Connection, item_id: int, error: str, now: datetime, worker_id: str | None = None
) -> bool:
    """Dead-letter an item: never claimed again; `error` is kept for the operator."""
    return claims.finish(
        conn, t, item_id, worker_id, {"dead_at": now, "last_error": error, "lease_until": None}
    )


def pending_count(conn: sa.Connection) -> int:
    """Items waiting to be processed (dead letters are not waiting)."""
    return int(conn.execute(sa.select(sa.func.count()).where(WAITING)).scalar_one())


def get(conn: sa.Connection, provider_id: str) -> InboxItem | None:
    row = conn.execute(sa.select(t).where(t.c.provider_id == provider_id)).one_or_none()
    return None if row is None else _item(row)


def _item(row: sa.Row[Any], attempts: int | None = None) -> InboxItem:
    return InboxItem(
        id=row.id,
        provider_id=row.provider_id,
        kind=row.kind,
        payload=dict(row.payload),
        received_at=row.received_at,
        attempts=row.attempts if attempts is None else attempts,
        processed_at=row.processed_at,
        dead_at=row.dead_at,
        last_error=row.last_error,
    )
