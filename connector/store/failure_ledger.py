"""retry_ledger: effects that failed, where an operator can see them (docs/reliability.md,
promise 1: nothing lost). One open entry per effect and key; each new failure bumps `attempts`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.dialect import insert
from connector.store.records import Effect, RetryEntry
from connector.store.tables import retry_ledger as t

_OPEN = t.c.resolved_at.is_(None)


def record_failure(
    conn: sa.Connection,
    effect: Effect,
    key: str,
    *,
    reason_code: str,
    message: str,
    now: datetime,
    next_attempt_at: datetime | None = None,
) -> RetryEntry:
    """Open an entry for (effect, key) or count one more failure on the open one.

    `message` must already be scrubbed of secrets and phone numbers: operators read it."""
    stmt = insert(conn, t).values(
        effect=effect,
        key=key,
        reason_code=reason_code,
        message=message,
        attempts=1,
        first_failed_at=now,
        last_failed_at=now,
        next_attempt_at=next_attempt_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["effect", "key"],
        index_where=_OPEN,
        set_={
            "attempts": t.c.attempts + 1,
            "reason_code": reason_code,
            "message": message,
            "last_failed_at": now,
            "next_attempt_at": next_attempt_at,
        },
    )
    conn.execute(stmt)
    entry = get_open(conn, effect, key)
    assert entry is not None
    return entry


def resolve(conn: sa.Connection, effect: Effect, key: str, now: datetime) -> bool:
    """Close the open entry (the effect finally went through, or an operator gave up)."""
    result = conn.execute(
        sa.update(t).where(t.c.effect == effect, t.c.key == key, _OPEN).values(resolved_at=now)
    )
    return result.rowcount == 1


def get_open(conn: sa.Connection, effect: Effect, key: str) -> RetryEntry | None:
    row = conn.execute(
        sa.select(t).where(t.c.effect == effect, t.c.key == key, _OPEN)
    ).one_or_none()
    return None if row is None else _entry(row)


def list_open(
    conn: sa.Connection, effect: Effect | None = None, limit: int = 1000
) -> list[RetryEntry]:
    """Unresolved entries, oldest failure first."""
    stmt = sa.select(t).where(_OPEN)
    if effect is not None:
        stmt = stmt.where(t.c.effect == effect)
    rows = conn.execute(stmt.order_by(t.c.first_failed_at, t.c.id).limit(limit)).all()
    return [_entry(row) for row in rows]


def due(conn: sa.Connection, now: datetime, effect: Effect | None = None) -> list[RetryEntry]:
    """Open entries whose next attempt time has come."""
    stmt = sa.select(t).where(_OPEN, t.c.next_attempt_at.is_not(None), t.c.next_attempt_at <= now)
    if effect is not None:
        stmt = stmt.where(t.c.effect == effect)
    return [_entry(row) for row in conn.execute(stmt.order_by(t.c.next_attempt_at, t.c.id))]


def _entry(row: sa.Row[Any]) -> RetryEntry:
    return RetryEntry(
        id=row.id,
        effect=row.effect,
        key=row.key,
        reason_code=row.reason_code,
        message=row.message,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        next_attempt_at=row.next_attempt_at,
        resolved_at=row.resolved_at,
    )


def record_retry_now(conn: sa.Connection, effect: Effect, key: str, now: datetime) -> None:
    """An operator asked for the next attempt now (`smsync failures retry`)."""
    conn.execute(
        sa.update(t).where(t.c.effect == effect, t.c.key == key, _OPEN).values(next_attempt_at=now)
    )
