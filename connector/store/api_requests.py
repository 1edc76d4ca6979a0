"""api_requests: the answer to each `POST /api/send` idempotency key, kept so that every
repeat of a key gets the first request's answer (see `connector.runtime.api`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.dialect import insert_if_absent
from connector.store.tables import api_requests as t


@dataclass(frozen=True, slots=True)
class ApiRequestRow:
    idempotency_key: str
    fingerprint: str
    outbox_key: str | None
    status: int
    response: dict[str, Any]
    settled: bool


def claim(conn: sa.Connection, key: str, fingerprint: str, now: datetime) -> bool:
    """Take the key for this request; False when an earlier request holds it.

    Concurrent claims of one key wait on the unique index until the first commits (its
    decision is committed in the same transaction), then find it taken."""
    values = {
        "idempotency_key": key,
        "fingerprint": fingerprint,
        "status": 0,
        "response": {},
        "created_at": now,
    }
    return insert_if_absent(conn, t, values, ["idempotency_key"])


def answer(
    conn: sa.Connection,
    key: str,
    *,
    status: int,
    response: dict[str, Any],
    outbox_key: str | None,
    settled_at: datetime | None,
) -> None:
    """Record the answer so far; `settled_at` once it is the first request's last word."""
    conn.execute(
        sa.update(t)
        .where(t.c.idempotency_key == key)
        .values(status=status, response=response, outbox_key=outbox_key, settled_at=settled_at)
    )


def get(conn: sa.Connection, key: str) -> ApiRequestRow | None:
    row = conn.execute(sa.select(t).where(t.c.idempotency_key == key)).one_or_none()
    if row is None:
        return None
    return ApiRequestRow(
        idempotency_key=row.idempotency_key,
        fingerprint=row.fingerprint,
        outbox_key=row.outbox_key,
        status=row.status,
        response=dict(row.response),
        settled=row.settled_at is not None,
    )
