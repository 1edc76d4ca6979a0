"""Retry or drop failures, as an operator decides (`smsync failures retry|drop`, the admin
page), each recorded in `ops_actions` with who did it.

A retry puts the same row back in its queue: the same external id (a CRM upsert, so the
CRM still holds one record whatever was written before), the same idempotency key (a text
that may have reached the provider goes back `ambiguous`, so the sender lists the
provider's messages before it would ever send it again), the same provider id. Its
attempts start again from zero, or the next claim would bury it at once. A drop abandons
the row for good: it is dead-lettered (never claimed again) and its ledger entry closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.ops.failures import Failure, Queue, get_failure
from connector.store import failure_ledger
from connector.store.tables import crm_outbox, inbox, ops_actions, sms_outbox


class ActionError(ValueError):
    """A failure that cannot take the action (unknown, or in flight right now)."""


@dataclass(frozen=True, slots=True)
class Done:
    failure: Failure
    action: str


def _record(
    conn: sa.Connection, action: str, failure: Failure, *, by: str, why: str | None, now: datetime
) -> None:
    conn.execute(
        sa.insert(ops_actions).values(
            action=action,
            queue=failure.queue,
            row_id=failure.row_id,
            key=failure.key,
            by=by[:128],
            why=why,
            at=now,
        )
    )


def _requeue(conn: sa.Connection, failure: Failure) -> int:
    fresh: dict[str, Any] = {"attempts": 0, "claimed_by": None, "lease_until": None}
    if failure.queue == "inbox":
        stmt = sa.update(inbox).where(inbox.c.id == failure.row_id, inbox.c.processed_at.is_(None))
        return _rowcount(conn, stmt.values(dead_at=None, **fresh))
    if failure.queue == "crm":
        t = crm_outbox
        state = "pending"
    else:
        t = sms_outbox
        # tried before: it may have reached the provider, so reconcile before any re-send
        state = "ambiguous" if failure.attempts > 0 else "pending"
    stmt = sa.update(t).where(
        t.c.id == failure.row_id, t.c.state.in_(("pending", "dead", "failed", "ambiguous"))
    )
    return _rowcount(conn, stmt.values(state=state, next_attempt_at=None, done_at=None, **fresh))


def _abandon(conn: sa.Connection, failure: Failure, note: str, now: datetime) -> int:
    if failure.queue == "inbox":
        stmt = sa.update(inbox).where(inbox.c.id == failure.row_id, inbox.c.processed_at.is_(None))
        return _rowcount(conn, stmt.values(dead_at=now, last_error=note, lease_until=None))
    t = crm_outbox if failure.queue == "crm" else sms_outbox
    stmt = sa.update(t).where(
        t.c.id == failure.row_id, t.c.state.in_(("pending", "dead", "failed", "ambiguous"))
    )
    values: dict[str, Any] = {"last_error": note, "lease_until": None, "next_attempt_at": None}
    if failure.state != "failed":  # an orphaned write stays `failed`: nothing was to be done
        values |= {"state": "dead", "done_at": now}
    return _rowcount(conn, stmt.values(**values))


def _rowcount(conn: sa.Connection, stmt: sa.Update) -> int:
    return int(conn.execute(stmt).rowcount)


def _find(conn: sa.Connection, queue: Queue, row_id: int) -> Failure:
    failure = get_failure(conn, queue, row_id)
    if failure is None:
        raise ActionError(f"{queue}-{row_id} is not a current failure (see `smsync failures`)")
    if failure.state == "claimed":
        raise ActionError(f"{failure.id} is being tried right now; wait for its outcome")
    return failure


def retry(
    conn: sa.Connection, targets: list[tuple[Queue, int]], by: str, now: datetime
) -> list[Done]:
    """Requeue each target in one transaction (all or none)."""
    done: list[Done] = []
    for queue, row_id in targets:
        failure = _find(conn, queue, row_id)
        if _requeue(conn, failure) != 1:
            raise ActionError(f"{failure.id} changed meanwhile; list the failures again")
        entry = failure_ledger.get_open(conn, queue, failure.key)
        if entry is not None:  # due now: the ledger says when it is tried again
            failure_ledger.record_retry_now(conn, queue, failure.key, now)
        _record(conn, "retry", failure, by=by, why=None, now=now)
        done.append(Done(failure, "retry"))
    return done


def drop(
    conn: sa.Connection, targets: list[tuple[Queue, int]], by: str, why: str, now: datetime
) -> list[Done]:
    """Abandon each target in one transaction (all or none), recording who and why."""
    if not why.strip():
        raise ActionError("drop needs a reason: --why TEXT")
    done: list[Done] = []
    for queue, row_id in targets:
        failure = _find(conn, queue, row_id)
        if _abandon(conn, failure, f"dropped by {by}: {why}"[:2000], now) != 1:
            raise ActionError(f"{failure.id} changed meanwhile; list the failures again")
        failure_ledger.resolve(conn, queue, failure.key, now)
        _record(conn, "drop", failure, by=by, why=why, now=now)
        done.append(Done(failure, "drop"))
    return done


def history(conn: sa.Connection, queue: Queue, row_id: int) -> list[dict[str, Any]]:
    """The actions taken on one row, oldest first."""
    t = ops_actions.c
    rows = conn.execute(
        sa.select(ops_actions).where(t.queue == queue, t.row_id == row_id).order_by(t.at, t.id)
    )
    return [{"action": r.action, "by": r.by, "why": r.why, "at": r.at.isoformat()} for r in rows]
