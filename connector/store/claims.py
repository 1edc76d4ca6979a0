"""Leased claims shared by the inbox and both outboxes.

A claim marks rows with the worker and a lease; a row whose lease ran out (its worker
died) is claimable again. On Postgres the selection uses ``FOR UPDATE SKIP LOCKED`` so two
replicas never take the same row; on SQLite the claim runs under the single writer lock.
Commit the claim before doing the work, so the lease is durable.

Each claim counts an attempt. A row is spent when it reached its queue's maximum and has
failed (`last_error`): a claim skips it, and `exhausted` finds it so the engine can
dead-letter it instead (connector/engine/dead_letters.py). Attempts alone do not spend a
row: a claim takes a batch, so a worker that died mid-batch added an attempt to every row
still waiting behind the one it was on. A row handed back for a reason that is not its own
(a deferral, a run stopped by a quota) gets its attempt back (`refund`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store import tables
from connector.store.dialect import lock_for_claim
from connector.store.records import Exhausted


def claimable(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    """Pending, or claimed by someone whose lease has expired."""
    return sa.or_(
        table.c.state == "pending",
        sa.and_(table.c.state == "claimed", table.c.lease_until <= now),
    )


def not_backing_off(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now)


def claim(
    conn: sa.Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool],
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    order_by: Sequence[sa.ColumnElement[Any]] | None = None,
    set_state: bool = True,
    max_attempts: int | None = None,
) -> list[sa.Row[Any]]:
    """Lease up to `limit` rows matching `where` (and below `max_attempts`); returns them
    as they were before."""
    if limit <= 0:
        return []
    if max_attempts is not None:
        where = sa.and_(where, sa.not_(spent(table, max_attempts)))
    order = order_by if order_by is not None else [table.c.id]
    stmt = sa.select(table).where(where).order_by(*order).limit(limit)
    rows = conn.execute(lock_for_claim(conn, stmt)).all()
    if not rows:
        return []
    values: dict[str, Any] = {
        "claimed_by": worker_id,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "attempts": table.c.attempts + 1,
    }
    if set_state:
        values["state"] = "claimed"
    conn.execute(sa.update(table).where(table.c.id.in_([r.id for r in rows])).values(**values))
    return list(rows)


def spent(table: sa.Table, max_attempts: int) -> sa.ColumnElement[bool]:
    """Tried `max_attempts` times, and failed at least once."""
    return sa.and_(table.c.attempts >= max_attempts, table.c.last_error.is_not(None))


def exhausted(
    conn: sa.Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool],
    key: sa.ColumnElement[str],
    *,
    max_attempts: int,
    limit: int,
) -> list[Exhausted]:
    """Rows matching `where` that are `spent`, locked like a claim."""
    stmt = (
        sa.select(table.c.id, key.label("key"), table.c.attempts, table.c.last_error)
        .where(where, spent(table, max_attempts))
        .order_by(table.c.id)
        .limit(limit)
    )
    rows = conn.execute(lock_for_claim(conn, stmt)).all()
    return [Exhausted(r.id, r.key, r.attempts, r.last_error) for r in rows]


def refund(table: sa.Table) -> dict[str, Any]:
    """The values that give a claimed row its attempt back."""
    return {"attempts": sa.case((table.c.attempts > 0, table.c.attempts - 1), else_=0)}


def finish(
    conn: sa.Connection,
    table: sa.Table,
    row_id: int,
    worker_id: str | None,
    values: dict[str, Any],
) -> bool:
    """Update a claimed row, only if `worker_id` still holds it (None: whoever holds it).

    False means the lease was lost to another worker, which will reconcile the row."""
    stmt = sa.update(table).where(table.c.id == row_id)
    if worker_id is not None:
        stmt = stmt.where(table.c.claimed_by == worker_id)
    return conn.execute(stmt.values(**values)).rowcount == 1


def fail(
    conn: sa.Connection,
    table: sa.Table,
    row_id: int,
    error: str,
    now: datetime,
    *,
    worker_id: str | None,
) -> bool:
    """Settle a claimed outbox row as finally failed (never claimed again)."""
    values = {"state": "failed", "last_error": error, "done_at": now, "lease_until": None}
    return finish(conn, table, row_id, worker_id, values)


def bury(
    conn: sa.Connection,
    table: sa.Table,
    row_id: int,
    error: str,
    now: datetime,
    *,
    worker_id: str | None,
) -> bool:
    """Settle an outbox row as a dead letter: never claimed (or sent) again."""
    values = {"state": "dead", "last_error": error, "done_at": now, "lease_until": None}
    return finish(conn, table, row_id, worker_id, values)


def release(
    conn: sa.Connection,
    table: sa.Table,
    row_id: int,
    error: str,
    retry_at: datetime | None,
    *,
    worker_id: str | None,
    refunded: bool = False,
) -> bool:
    """Hand a claimed outbox row back, to be claimed again from `retry_at` (None: at once);
    `refunded`: the claim was not an attempt (a stop, a deferral)."""
    values: dict[str, Any] = {
        "state": "pending",
        "last_error": error,
        "next_attempt_at": retry_at,
        "lease_until": None,
        "claimed_by": None,
    }
    if refunded:
        values |= refund(table)
    return finish(conn, table, row_id, worker_id, values)


def expire_held(conn: sa.Connection, now: datetime) -> int:
    """Make every lease of the inbox and both outboxes run out now; how many rows. Only for
    a process that knows every holder is gone (the single SQLite replica at start-up): the
    rows keep their holder, so a late settlement by it is still refused (`finish`)."""
    expired = 0
    for table in (tables.inbox, tables.crm_outbox, tables.sms_outbox):
        expired += conn.execute(
            sa.update(table)
            .where(table.c.claimed_by.is_not(None), table.c.lease_until > now)
            .values(lease_until=now)
        ).rowcount
    return expired
