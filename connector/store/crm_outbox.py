"""crm_outbox: CRM writes waiting to be sent, keyed by their deterministic external id.

Enqueueing the same external id twice keeps the first row, and a replayed write is an
upsert at the CRM, so an expired lease is simply claimed and sent again. `failed` is an
outcome nobody acts on (the target record was deleted); `dead` is a write smsync gave up on
(the CRM refused it, or it was tried the maximum number of times), left to an operator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef, CrmWrite
from connector.store import claims
from connector.store.database import dumps
from connector.store.dialect import insert_rows, lock_row
from connector.store.records import CrmOutboxRow, Exhausted
from connector.store.tables import crm_outbox as t


def enqueue(conn: sa.Connection, write: CrmWrite, now: datetime) -> bool:
    """Queue a write; False when its external id is already queued (nothing changes)."""
    return bool(enqueue_many(conn, [write], now))


def enqueue_many(conn: sa.Connection, writes: Sequence[CrmWrite], now: datetime) -> set[str]:
    """Queue many writes with distinct external ids in a few statements
    (`dialect.insert_rows`); the external ids newly queued (one already queued is left as
    it is, as `enqueue` leaves it)."""
    rows = insert_rows(
        conn,
        t,
        [_values(write, now) for write in writes],
        conflict_on=("external_id",),
        returning=("external_id",),
    )
    return {str(row.external_id) for row in rows}


def _values(write: CrmWrite, now: datetime) -> dict[str, Any]:
    return {
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


def fold_in(conn: sa.Connection, write: CrmWrite) -> bool:
    """Merge `write` into the row already queued for its external id (locked while it is
    read), which becomes pending again; False when nothing is new (a replayed event). A
    writeback worker holding the row at that moment no longer matches on settling
    (`claims.finish` checks the holder), so the merged row is written once more."""
    row = conn.execute(
        lock_row(
            conn,
            sa.select(t.c.id, t.c.fields, t.c.state).where(t.c.external_id == write.external_id),
        )
    ).one()
    merged = {**dict(row.fields), **json.loads(dumps(write.fields))}
    if merged == dict(row.fields) and row.state in ("pending", "done"):
        return False
    values: dict[str, object] = {
        "fields": merged,
        "state": "pending",
        "claimed_by": None,
        "lease_until": None,
        "next_attempt_at": None,
        "done_at": None,
        "last_error": None,
    }
    if row.state in ("failed", "dead"):
        values["attempts"] = 0  # new content is a new write: its own tries, not a dead letter
    if write.owner_id is not None:
        values["owner_id"] = write.owner_id
    if write.due is not None:
        values["due"] = write.due
    conn.execute(sa.update(t).where(t.c.id == row.id).values(**values))
    return True


def written_around(
    conn: sa.Connection,
    target: CrmRef,
    kinds: Sequence[str],
    *,
    queued: tuple[datetime, datetime],
    done: tuple[datetime, datetime],
) -> bool:
    """Whether a write of `kinds` on `target` reached the CRM and was either queued within
    `queued` or last written within `done` (both inclusive)."""
    hit = conn.execute(
        sa.select(t.c.id)
        .where(
            t.c.target_type == target.object_type,
            t.c.target_id == target.id,
            t.c.kind.in_(tuple(kinds)),
            t.c.state == "done",
            sa.or_(
                sa.and_(t.c.created_at >= queued[0], t.c.created_at <= queued[1]),
                sa.and_(t.c.done_at >= done[0], t.c.done_at <= done[1]),
            ),
        )
        .limit(1)
    ).first()
    return hit is not None


def queued_for(conn: sa.Connection, target: CrmRef, kind: str) -> bool:
    """Whether a write of `kind` on `target` is still waiting for the CRM."""
    hit = conn.execute(
        sa.select(t.c.id)
        .where(
            t.c.kind == kind,
            t.c.target_type == target.object_type,
            t.c.target_id == target.id,
            t.c.state.in_(("pending", "claimed")),
        )
        .limit(1)
    ).first()
    return hit is not None


def queued_for_many(conn: sa.Connection, targets: Sequence[CrmRef], kind: str) -> set[CrmRef]:
    """Which of these records `queued_for` a write of `kind`, one query per object type."""
    found: set[CrmRef] = set()
    for object_type, ids in _ids_by_type(targets).items():
        rows = conn.execute(_QUEUED_FOR, {"kind": kind, "object_type": object_type, "ids": ids})
        found.update(CrmRef(object_type, target_id) for target_id in rows.scalars())
    return found


_QUEUED_FOR = (
    sa.select(t.c.target_id)
    .where(
        t.c.kind == sa.bindparam("kind"),
        t.c.target_type == sa.bindparam("object_type"),
        t.c.target_id.in_(sa.bindparam("ids", expanding=True)),
        t.c.state.in_(("pending", "claimed")),
    )
    .distinct()
)


def written_within(
    conn: sa.Connection,
    targets: Sequence[CrmRef],
    kinds: Sequence[str],
    between: tuple[datetime, datetime],
) -> dict[CrmRef, list[tuple[datetime, datetime | None]]]:
    """The writes of `kinds` on these records that reached the CRM and were queued or last
    written within `between` (inclusive): (queued, last written) per record, one query per
    object type. `written_around` of many records is these, narrowed to each one's
    windows by the caller."""
    found: dict[CrmRef, list[tuple[datetime, datetime | None]]] = {}
    lo, hi = between
    for object_type, ids in _ids_by_type(targets).items():
        rows = conn.execute(
            _WRITTEN_WITHIN,
            {"object_type": object_type, "ids": ids, "kinds": list(kinds), "lo": lo, "hi": hi},
        )
        for row in rows:
            ref = CrmRef(object_type, row.target_id)
            found.setdefault(ref, []).append((row.created_at, row.done_at))
    return found


_WRITTEN_WITHIN = (
    sa.select(t.c.target_id, t.c.created_at, t.c.done_at)
    .where(
        t.c.target_type == sa.bindparam("object_type"),
        t.c.target_id.in_(sa.bindparam("ids", expanding=True)),
        t.c.kind.in_(sa.bindparam("kinds", expanding=True)),
        t.c.state == "done",
        sa.or_(
            t.c.created_at.between(sa.bindparam("lo"), sa.bindparam("hi")),
            t.c.done_at.between(sa.bindparam("lo"), sa.bindparam("hi")),
        ),
    )
    .order_by(t.c.id)
)


def _ids_by_type(refs: Sequence[CrmRef]) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref.id)
    return by_type
