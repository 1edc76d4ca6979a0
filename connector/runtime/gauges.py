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
from connector.ports import Connection, Store
from connector.store import inbox, queue_stats

WAITING = {"crm": ("pending", "claimed"), "sms": ("pending", "claimed", "ambiguous")}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _outbox(conn: Connection, name: str, now: datetime) -> None:
    depth, oldest = queue_stats.outbox_backlog(conn, name, WAITING[name])
    OUTBOX_DEPTH.labels(name).set(depth)
    OUTBOX_AGE.labels(name).set(max((now - _aware(oldest)).total_seconds(), 0.0) if oldest else 0.0)


def refresh(store: Store, now: datetime | None = None) -> None:
    """Read the store once and set every store-backed gauge."""
    now = now or datetime.now(UTC)
    with store.begin() as conn:
        _outbox(conn, "crm", now)
        _outbox(conn, "sms", now)
        INBOX_DEPTH.set(inbox.pending_count(conn))
        dead = queue_stats.dead_letters(conn)
        open_ = queue_stats.unmet_timers(conn, breached=False)
        breached = queue_stats.unmet_timers(conn, breached=True)
        ledger = queue_stats.open_ledger(conn)
        cursors = queue_stats.cursor_moves(conn)
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
