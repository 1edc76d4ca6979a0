"""sms_outbox: every text leaves only through a row here, committed with the decision that
allowed it. A row that may already have reached the provider (ambiguous, or a lease that
ran out mid-send) is handed out with `reconcile_first` so it is never re-sent blindly. A
dead row (`bury`) is never claimed, so never sent, again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from connector.domain.model import CrmRef
from connector.store import claims
from connector.store.dialect import insert_if_absent, insert_rows
from connector.store.records import Exhausted, SmsOutboxRow
from connector.store.tables import sms_outbox as t


def enqueue(
    conn: sa.Connection,
    idempotency_key: str,
    *,
    to: str,
    body: str,
    send_at: datetime,
    now: datetime,
    contact: CrmRef | None = None,
    play: str | None = None,
) -> bool:
    """Queue a text; False when a row with this key already exists (nothing changes)."""
    text = Queued(idempotency_key, to, body, send_at, contact, play)
    return insert_if_absent(conn, t, _values(text, now), ["idempotency_key"])


class Queued(NamedTuple):
    """One text for `enqueue_many`, with `enqueue`'s arguments."""

    idempotency_key: str
    to: str
    body: str
    send_at: datetime
    contact: CrmRef | None = None
    play: str | None = None


def enqueue_many(conn: sa.Connection, texts: Sequence[Queued], now: datetime) -> set[str]:
    """`enqueue` of many texts in one statement (`dialect.insert_rows`), in order; the keys
    of those inserted (a key already queued changes nothing and is absent)."""
    rows = insert_rows(
        conn,
        t,
        [_values(text, now) for text in texts],
        conflict_on=["idempotency_key"],
        returning=["idempotency_key"],
    )
    return {row.idempotency_key for row in rows}


def _values(text: Queued, now: datetime) -> dict[str, Any]:
    contact = text.contact
    return {
        "idempotency_key": text.idempotency_key,
        "contact_type": contact.object_type if contact else None,
        "contact_id": contact.id if contact else None,
        "to_number": text.to,
        "body": text.body,
        "play": text.play,
        "send_at": text.send_at,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
    }


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(t.c.state == "pending", t.c.send_at <= now, claims.not_backing_off(t, now)),
        sa.and_(t.c.state == "claimed", t.c.lease_until <= now),
        sa.and_(t.c.state == "ambiguous", claims.not_backing_off(t, now)),
    )


def claim(
    conn: sa.Connection,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    *,
    max_attempts: int | None = None,
) -> list[SmsOutboxRow]:
    """Lease due rows: pending ones whose send time has come, expired claims, and ambiguous
    rows awaiting reconciliation (below `max_attempts`)."""
    rows = claims.claim(
        conn,
        t,
        _due(now),
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now,
        order_by=[t.c.send_at, t.c.id],
        max_attempts=max_attempts,
    )
    return [
        _row(r, state="claimed", attempts=r.attempts + 1, reconcile=r.state != "pending")
        for r in rows
    ]


def exhausted(conn: sa.Connection, max_attempts: int, now: datetime, limit: int) -> list[Exhausted]:
    """Due rows already tried `max_attempts` times."""
    return claims.exhausted(
        conn, t, _due(now), t.c.idempotency_key, max_attempts=max_attempts, limit=limit
    )


def mark_sent(
    conn: sa.Connection,
    row_id: int,
    provider_sid: str,
    now: datetime,
    worker_id: str | None = None,
) -> bool:
    return claims.finish(
        conn,
        t,
        row_id,
        worker_id,
        {"state": "sent", "provider_sid": provider_sid, "done_at": now, "lease_until": None},
    )


def mark_failed(
    conn: sa.Connection, row_id: int, error: str, now: datetime, worker_id: str | None = None
) -> bool:
    """A definite, final failure (an invalid number, an opted-out recipient): never retried."""
    return claims.fail(conn, t, row_id, error, now, worker_id=worker_id)


def bury(
    conn: sa.Connection, row_id: int, error: str, now: datetime, worker_id: str | None = None
) -> bool:
    """Dead-letter a text: smsync gave up on it and never sends it."""
    return claims.bury(conn, t, row_id, error, now, worker_id=worker_id)


def withdraw(conn: sa.Connection, row_id: int, reason: str, now: datetime) -> SmsOutboxRow | None:
    """Take back a text still waiting to go (a higher-priority play took its place); None
    when it is no longer pending (a sender claimed it meanwhile)."""
    done = conn.execute(
        sa.update(t)
        .where(t.c.id == row_id, t.c.state == "pending")
        .values(state="failed", last_error=reason, done_at=now, lease_until=None)
    )
    return get(conn, row_id) if done.rowcount == 1 else None


def mark_ambiguous(
    conn: sa.Connection,
    row_id: int,
    error: str,
    reconcile_at: datetime,
    worker_id: str | None = None,
    *,
    refunded: bool = False,
) -> bool:
    """The provider may have accepted it: reconcile at `reconcile_at` before any re-send."""
    values: dict[str, Any] = {
        "state": "ambiguous",
        "last_error": error,
        "next_attempt_at": reconcile_at,
        "lease_until": None,
    }
    if refunded:
        values |= claims.refund(t)
    return claims.finish(conn, t, row_id, worker_id, values)


def retry_later(
    conn: sa.Connection,
    row_id: int,
    error: str,
    retry_at: datetime,
    worker_id: str | None = None,
    *,
    refunded: bool = False,
) -> bool:
    """The provider certainly did not accept it (a 429, a refused connection): send again.
    `refunded`: not an attempt (a deferral, a stopped run), so it does not count."""
    return claims.release(conn, t, row_id, error, retry_at, worker_id=worker_id, refunded=refunded)


def get(conn: sa.Connection, row_id: int) -> SmsOutboxRow | None:
    row = conn.execute(sa.select(t).where(t.c.id == row_id)).one_or_none()
    return None if row is None else _row(row)


def by_key(conn: sa.Connection, idempotency_key: str) -> SmsOutboxRow | None:
    row = conn.execute(sa.select(t).where(t.c.idempotency_key == idempotency_key)).one_or_none()
    return None if row is None else _row(row)


def existing_keys(conn: sa.Connection, keys: Iterable[str]) -> set[str]:
    """Which of these idempotency keys have a row (`by_key` of many, in one query)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    return set(conn.execute(_EXISTING, {"keys": wanted}).scalars())


_EXISTING = sa.select(t.c.idempotency_key).where(
    t.c.idempotency_key.in_(sa.bindparam("keys", expanding=True))
)


def counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per state, for metrics and reports."""
    rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))
    return {state: int(n) for state, n in rows}


def _row(
    row: sa.Row[Any],
    *,
    state: str | None = None,
    attempts: int | None = None,
    reconcile: bool = False,
) -> SmsOutboxRow:
    contact = (
        CrmRef(row.contact_type, row.contact_id)
        if row.contact_type is not None and row.contact_id is not None
        else None
    )
    return SmsOutboxRow(
        id=row.id,
        idempotency_key=row.idempotency_key,
        to=row.to_number,
        body=row.body,
        send_at=row.send_at,
        state=state or row.state,  # type: ignore[arg-type]
        attempts=row.attempts if attempts is None else attempts,
        contact=contact,
        play=row.play,
        provider_sid=row.provider_sid,
        last_error=row.last_error,
        reconcile_first=reconcile,
    )


# --- reads the engine's steps make ---------------------------------------------------

# texts that never reach the provider do not count against caps or cooldowns
LIVE_STATES = ("pending", "claimed", "sent", "ambiguous")


class LiveSend(NamedTuple):
    """A text sent, or still to be sent, to a number: what caps and cooldowns count."""

    id: int
    idempotency_key: str
    play: str | None
    at: datetime  # when it went out, else when it is due
    pending: bool


def live_to(conn: sa.Connection, phone: str, exclude_id: int | None = None) -> list[LiveSend]:
    """Every live text to `phone` (`LIVE_STATES`), but the row `exclude_id`."""
    stmt = sa.select(
        t.c.id, t.c.idempotency_key, t.c.play, t.c.send_at, t.c.done_at, t.c.state
    ).where(t.c.to_number == phone, t.c.state.in_(LIVE_STATES))
    if exclude_id is not None:
        stmt = stmt.where(t.c.id != exclude_id)
    return [_live(r) for r in conn.execute(stmt.order_by(t.c.id))]


def live_to_many(conn: sa.Connection, phones: Iterable[str]) -> dict[str, list[LiveSend]]:
    """`live_to` of many numbers in one query; a number with no live text is absent."""
    found: dict[str, list[LiveSend]] = {}
    wanted = sorted(set(phones))
    if wanted:
        for r in conn.execute(_LIVE_TO_MANY, {"phones": wanted}):
            found.setdefault(r.to_number, []).append(_live(r))
    return found


_LIVE_TO_MANY = (
    sa.select(
        t.c.id, t.c.idempotency_key, t.c.play, t.c.send_at, t.c.done_at, t.c.state, t.c.to_number
    )
    .where(t.c.to_number.in_(sa.bindparam("phones", expanding=True)), t.c.state.in_(LIVE_STATES))
    .order_by(t.c.id)
)


def _live(r: Any) -> LiveSend:  # a row of `live_to` or `live_to_many`
    return LiveSend(r.id, r.idempotency_key, r.play, r.done_at or r.send_at, r.state == "pending")


def failed_with(conn: sa.Connection, phone: str, error_prefix: str) -> bool:
    """Whether a text to `phone` failed with an error starting `error_prefix` (a provider
    verdict on the number, such as `landline`)."""
    hit = conn.execute(
        sa.select(t.c.id)
        .where(
            t.c.to_number == phone,
            t.c.state == "failed",
            t.c.last_error.like(f"{error_prefix}%"),
        )
        .limit(1)
    ).first()
    return hit is not None


def failed_with_any(conn: sa.Connection, phones: Iterable[str], error_prefix: str) -> set[str]:
    """Which of these numbers `failed_with` an error starting `error_prefix`, in one query."""
    wanted = sorted(set(phones))
    if not wanted:
        return set()
    rows = conn.execute(
        sa.select(t.c.to_number)
        .where(
            t.c.to_number.in_(wanted),
            t.c.state == "failed",
            t.c.last_error.like(f"{error_prefix}%"),
        )
        .distinct()
    )
    return set(rows.scalars())


def provider_sids_to(conn: sa.Connection, phone: str, exclude_id: int) -> set[str]:
    """The provider's ids of the other texts to `phone`: messages that are known to be
    other sends when an ambiguous one is looked for."""
    return {
        sid
        for (sid,) in conn.execute(
            sa.select(t.c.provider_sid).where(
                t.c.to_number == phone, t.c.id != exclude_id, t.c.provider_sid.is_not(None)
            )
        )
    }


def due_ids(conn: sa.Connection, now: datetime, limit: int) -> list[int]:
    """Pending rows a send run would claim now, in claim order (a dry run's preview)."""
    return [
        row_id
        for (row_id,) in conn.execute(
            sa.select(t.c.id)
            .where(t.c.state == "pending", t.c.send_at <= now, claims.not_backing_off(t, now))
            .order_by(t.c.send_at, t.c.id)
            .limit(limit)
        )
    ]


def claim_one(
    conn: sa.Connection, row_id: int, worker_id: str, now: datetime, lease_s: float
) -> SmsOutboxRow | None:
    """Lease one pending, due row (a manual send going out at once)."""
    where = sa.and_(t.c.id == row_id, t.c.state == "pending", t.c.send_at <= now)
    rows = claims.claim(
        conn, t, where, worker_id=worker_id, limit=1, lease_seconds=lease_s, now=now
    )
    return get(conn, row_id) if rows else None


def first_sent(
    conn: sa.Connection, contact: CrmRef, since: datetime, *, key_prefix: str | tuple[str, ...]
) -> datetime | None:
    """When the first text to `contact` whose key starts with `key_prefix` (or one of
    them) reached the provider at or after `since` (a rep's answer, for the SLA sweep)."""
    prefixes = (key_prefix,) if isinstance(key_prefix, str) else key_prefix
    at = conn.execute(
        sa.select(sa.func.min(t.c.done_at)).where(
            t.c.contact_type == contact.object_type,
            t.c.contact_id == contact.id,
            sa.or_(*(t.c.idempotency_key.like(f"{p}%") for p in prefixes)),
            t.c.state == "sent",
            t.c.done_at >= since,
        )
    ).scalar_one_or_none()
    return at if isinstance(at, datetime) else None


def sent_with_prefix(conn: sa.Connection, prefix: str) -> int:
    """How many texts whose key starts with `prefix` reached the provider."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                t.c.idempotency_key.like(f"{prefix}%"), t.c.state == "sent"
            )
        ).scalar_one()
    )
