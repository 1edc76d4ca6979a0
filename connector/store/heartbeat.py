"""Lease heartbeats: a worker keeps the rows it is working on, and only those.

A claim's lease (`claims.claim`) is what lets another replica take a dead worker's rows
over, so it should be short; but a batch may take longer than a short lease (a slow CRM,
a 429 being waited out). While a worker holds claimed rows, `Heartbeat` pushes their
`lease_until` forward every third of the lease, for the rows it still holds: rows it has
settled, handed back or lost to another worker are left alone, so a heartbeat never
resurrects a claim. When the worker dies the beats stop, and its rows are claimable at most
one lease after its last beat."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType

import sqlalchemy as sa
import structlog
from sqlalchemy.pool import StaticPool

from connector.logs import scrub_text
from connector.metrics import ERRORS
from connector.ports import Clock, Store
from connector.store import tables

# The leased queues, by name: the engine names one, the store knows its table.
QUEUES: dict[str, sa.Table] = {
    "inbox": tables.inbox,
    "sms_outbox": tables.sms_outbox,
    "crm_outbox": tables.crm_outbox,
}

log = structlog.get_logger(__name__)


def still_held(table: sa.Table, ids: Sequence[int], worker_id: str) -> sa.ColumnElement[bool]:
    """Rows of `ids` that `worker_id` holds and has not settled yet."""
    held = [
        table.c.id.in_(list(ids)),
        table.c.claimed_by == worker_id,
        table.c.lease_until.is_not(None),
    ]
    if "state" in table.c:  # the outboxes: settled rows leave the 'claimed' state
        held.append(table.c.state == "claimed")
    if "processed_at" in table.c:  # the inbox: a processed item is done
        held.append(table.c.processed_at.is_(None))
    return sa.and_(*held)


def extend(
    conn: sa.Connection,
    table: sa.Table,
    ids: Sequence[int],
    *,
    worker_id: str,
    lease_s: float,
    clock: Clock,
) -> int:
    """Push the lease of the rows `worker_id` still holds; how many were extended."""
    if not ids:
        return 0
    until = clock.now() + timedelta(seconds=lease_s)
    stmt = sa.update(table).where(still_held(table, ids, worker_id)).values(lease_until=until)
    return int(conn.execute(stmt).rowcount)


def _one_shared_connection(store: Store) -> bool:
    """In-memory SQLite: every thread shares one connection, so a beat would run inside
    the worker's own transaction. Nothing else can claim those rows anyway."""
    engine = getattr(store, "engine", None)
    return isinstance(getattr(engine, "pool", None), StaticPool)


class Heartbeat:
    """`with Heartbeat(...):` around the work on claimed rows; a beat every `lease_s / 3`.

    A beat that fails (the database is away) is logged and tried again at the next one:
    the lease then runs out as if the worker had died, and `claims.finish` refuses the
    late settlement of any row another worker took meanwhile."""

    def __init__(
        self,
        store: Store,
        table: sa.Table | str,
        ids: Sequence[int],
        *,
        worker_id: str,
        lease_s: float,
        clock: Clock,
    ) -> None:
        self.store = store
        self.table = QUEUES[table] if isinstance(table, str) else table
        self.ids = list(ids)
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.clock = clock
        self.every_s = lease_s / 3.0
        self.beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.ids and not _one_shared_connection(self.store):
            self._thread = threading.Thread(
                target=self._run, name=f"heartbeat:{self.table.name}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.beat()

    def beat(self) -> int:
        """One extension now; how many rows are still held (0 on a failed beat)."""
        try:
            with self.store.begin() as conn:
                held = extend(
                    conn,
                    self.table,
                    self.ids,
                    worker_id=self.worker_id,
                    lease_s=self.lease_s,
                    clock=self.clock,
                )
        except Exception as exc:  # noqa: BLE001 - a missed beat must not kill the worker
            ERRORS.labels("heartbeat", type(exc).__name__).inc()
            log.warning(
                "heartbeat.failed",
                table=self.table.name,
                error=type(exc).__name__,
                detail=scrub_text(str(exc).splitlines()[0] if str(exc) else ""),
            )
            return 0
        self.beats += 1
        return held
