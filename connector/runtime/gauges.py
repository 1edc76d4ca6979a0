"""The gauges read from the store: outbox depth and age, inbox depth, dead letters, SLA
timers open and breached, the open retry ledger, and how long each pull cursor has stood
still.

They are computed by a periodic job (`gauges`, every `SMSYNC_GAUGES_INTERVAL_S`), not at
scrape time: a scrape never waits on the database, and on Postgres every replica reports
the same numbers (so dashboards take `max`, not `sum`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connector.metrics import (
    DEAD_LETTERS,
    INBOX_DEPTH,
    OUTBOX_AGE,
    OUTBOX_DEPTH,
    RETRY_LEDGER_OPEN,
    SLA_TIMERS_BREACHED,
    SLA_TIMERS_OPEN,
    SYNC_LAG,
)
from connector.ports import Store
from connector.store import inbox
from connector.store import tables as t

WAITING = {"crm": ("pending", "claimed"), "sms": ("pending", "claimed", "ambiguous")}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _outbox(conn: sa.Connection, name: str, table: sa.Table, now: datetime) -> None:
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(table.c.created_at)).where(
            table.c.state.in_(WAITING[name])
        )
    ).one()
    OUTBOX_DEPTH.labels(name).set(int(row[0]))
    oldest = row[1]
    OUTBOX_AGE.labels(name).set(max((now - _aware(oldest)).total_seconds(), 0.0) if oldest else 0.0)


def _dead(conn: sa.Connection) -> dict[str, int]:
    """Dead letters per queue (an inbox item's `dead_at`, an outbox row's state)."""
    i = t.inbox.c
    counts = {
        "inbox": sa.select(sa.func.count()).where(i.processed_at.is_(None), i.dead_at.is_not(None)),
        "sms": sa.select(sa.func.count()).where(t.sms_outbox.c.state == "dead"),
        "crm": sa.select(sa.func.count()).where(t.crm_outbox.c.state == "dead"),
    }
    return {queue: int(conn.execute(stmt).scalar_one()) for queue, stmt in counts.items()}


def _by_kind(conn: sa.Connection, where: Any) -> dict[str, int]:
    rows = conn.execute(
        sa.select(t.sla_timers.c.kind, sa.func.count()).where(where).group_by(t.sla_timers.c.kind)
    )
    return {str(kind): int(n) for kind, n in rows}


def refresh(store: Store, now: datetime | None = None) -> None:
    """Read the store once and set every store-backed gauge."""
    now = now or datetime.now(UTC)
    s = t.sla_timers.c
    with store.begin() as conn:
        _outbox(conn, "crm", t.crm_outbox, now)
        _outbox(conn, "sms", t.sms_outbox, now)
        INBOX_DEPTH.set(inbox.pending_count(conn))
        dead = _dead(conn)
        open_ = _by_kind(conn, sa.and_(s.met.is_(None), s.breached.is_(None)))
        breached = _by_kind(conn, sa.and_(s.met.is_(None), s.breached.is_not(None)))
        ledger: dict[str, int] = dict(
            conn.execute(
                sa.select(t.retry_ledger.c.effect, sa.func.count())
                .where(t.retry_ledger.c.resolved_at.is_(None))
                .group_by(t.retry_ledger.c.effect)
            ).all()
        )
        cursors = conn.execute(sa.select(t.cursors.c.name, t.cursors.c.updated_at)).all()
    for kind in set(open_) | set(breached) | set(_known(SLA_TIMERS_OPEN)):
        SLA_TIMERS_OPEN.labels(kind).set(open_.get(kind, 0))
        SLA_TIMERS_BREACHED.labels(kind).set(breached.get(kind, 0))
    for effect in ("crm", "sms", "inbox"):
        RETRY_LEDGER_OPEN.labels(effect).set(int(ledger.get(effect, 0)))
    for queue, n in dead.items():
        DEAD_LETTERS.labels(queue).set(n)
    for name, updated in cursors:
        SYNC_LAG.labels(str(name)).set(max((now - _aware(updated)).total_seconds(), 0.0))


def _known(gauge: Any) -> list[str]:
    """Label values already reported, so a kind whose count fell to zero reads 0."""
    return [labels[0] for labels in getattr(gauge, "_metrics", {})]


def gauges_job(store: Store) -> Callable[[threading.Event], None]:
    def run(_stopping: threading.Event) -> None:
        refresh(store)

    return run
