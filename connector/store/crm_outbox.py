"""crm_outbox: CRM writes waiting to be sent, keyed by their deterministic external id.

Enqueueing the same external id twice keeps the first row, and a replayed write is an
upsert at the CRM, so an expired lease is simply claimed and sent again. `failed` is an
outcome nobody acts on (the target record was deleted); `dead` is a write smsync gave up on
(the CRM refused it, or it was tried the maximum number of times), left to an operator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef, CrmWrite
from connector.store import claims
from connector.store.dialect import insert_if_absent
from connector.store.records import CrmOutboxRow, Exhausted
from connector.store.tables import crm_outbox as t


def enqueue(conn: sa.Connection, write: CrmWrite, now: datetime) -> bool:
    """Queue a write; False when its external id is already queued (nothing changes)."""
    values = {
        "external_id": write.external_id,
        "kind": write.kind,
        "target_type": write.target.object_type,
        "target_id": write.target.id,
        "fields": dict(write.fields),
        "owner_id": write.owner_id,
        "due": write.due,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
    }
    return insert_if_absent(conn, t, values, ["external_id"])


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(claims.claimable(t, now), claims.not_backing_off(t, now))


def claim(
    conn: sa.Connection,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    *,
    max_attempts: int | None = None,
) -> list[CrmOutboxRow]:
    """Lease up to `limit` writes below `max_attempts`, oldest first (a writeback batch)."""
    rows = claims.claim(
        conn,
        t,
        _due(now),
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now,
        max_attempts=max_attempts,
    )
    return [_row(r, state="claimed", attempts=r.attempts + 1) for r in rows]


def exhausted(conn: sa.Connection, max_attempts: int, now: datetime, limit: int) -> list[Exhausted]:
    """Due writes already tried `max_attempts` times."""
    return claims.exhausted(
        conn, t, _due(now), t.c.external_id, max_attempts=max_attempts, limit=limit
    )


def mark_done(
    conn: sa.Connection,
    row_id: int,
    crm_id: str | None,
    now: datetime,
    worker_id: str | None = None,
) -> bool:
    return claims.finish(
        conn,
        t,
        row_id,
        worker_id,
        {"state": "done", "crm_id": crm_id, "done_at": now, "lease_until": None},
    )


def mark_failed(
    conn: sa.Connection, row_id: int, error: str, now: datetime, worker_id: str | None = None
) -> bool:
    """Final, with nothing to do (an orphaned target); the engine ledgers it."""
    return claims.fail(conn, t, row_id, error, now, worker_id=worker_id)


def bury(
    conn: sa.Connection, row_id: int, error: str, now: datetime, worker_id: str | None = None
) -> bool:
    """Dead-letter a write smsync gave up on."""
    return claims.bury(conn, t, row_id, error, now, worker_id=worker_id)


def retry_later(
    conn: sa.Connection,
    row_id: int,
    error: str,
    retry_at: datetime,
    worker_id: str | None = None,
    *,
    refunded: bool = False,
) -> bool:
    """Back to pending from `retry_at`; `refunded`: not an attempt (the CRM throttled us:
    its pace, not the write's failure)."""
    return claims.release(conn, t, row_id, error, retry_at, worker_id=worker_id, refunded=refunded)


def put_back(conn: sa.Connection, row_id: int, error: str, worker_id: str | None = None) -> bool:
    """Hand a claimed write back untried and claimable at once: the CRM took nothing (a
    graceful stop, writeback pauses), so the claim does not count as an attempt."""
    return claims.release(conn, t, row_id, error, None, worker_id=worker_id, refunded=True)


def get(conn: sa.Connection, external_id: str) -> CrmOutboxRow | None:
    row = conn.execute(sa.select(t).where(t.c.external_id == external_id)).one_or_none()
    return None if row is None else _row(row)


def counts(conn: sa.Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))
    return {state: int(n) for state, n in rows}


def _row(
    row: sa.Row[Any], *, state: str | None = None, attempts: int | None = None
) -> CrmOutboxRow:
    write = CrmWrite(
        kind=row.kind,
        external_id=row.external_id,
        target=CrmRef(row.target_type, row.target_id),
        fields=dict(row.fields),
        owner_id=row.owner_id,
        due=row.due,
    )
    return CrmOutboxRow(
        id=row.id,
        write=write,
        state=state or row.state,  # type: ignore[arg-type]
        attempts=row.attempts if attempts is None else attempts,
        crm_id=row.crm_id,
        last_error=row.last_error,
    )
