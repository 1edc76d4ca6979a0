"""What every engine step runs over: settings, the mapping, the store, both ports, a clock.

The steps (pull, plan, send, ingest, writeback, sweep) take one `EngineContext`, which
the composition root (`connector/runtime/wiring.py`) builds once for the CLI, the
sidecar's jobs, the demo and the tests. `on_enqueue` is how
new work reaches the scheduler: a step that committed CRM writes calls it with
``"writeback"`` (or SMS rows with ``"send"``), and `smsync run` hooks it to
``jobs.wake(name)``, so new work does not wait for the next interval."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from connector.config import MappingConfig, Settings
from connector.domain.model import ContactState
from connector.domain.policy import Policy
from connector.domain.signals import Signal
from connector.engine.owners import OwnerNames
from connector.ports import Clock, CrmPort, SmsPort
from connector.store import SqlStore


class Planner(Protocol):
    @property
    def policy(self) -> Policy:
        """The governance policy the plays file sets (the send-time check re-applies it)."""
        ...

    def plan(
        self, conn: Connection, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> int:
        """Queue the sends the signals allow, in `conn` (the pull's own transaction), so a
        send enters the SMS outbox atomically with the state change that caused it.
        Returns how many sends were queued."""
        ...

    def plan_many(
        self,
        conn: Connection,
        items: Sequence[tuple[ContactState, Sequence[Signal]]],
        now: datetime,
    ) -> int:
        """`plan` of many contacts in order, their contexts read and their decisions written
        a page at a time (a pull's segment, the clock's page of due contacts)."""
        ...


def _ignore(_step: str) -> None:
    return None


@dataclass
class EngineContext:
    settings: Settings
    mapping: MappingConfig
    store: SqlStore
    crm: CrmPort
    sms: SmsPort | None
    clock: Clock
    worker_id: str
    planner: Planner | None = None
    on_enqueue: Callable[[str], object] = field(default=_ignore)
    # the SMS provider's reconciliation pass, bound by the wiring (None: no SMS configured)
    reconcile: Callable[[], object] | None = None
    owner_names: OwnerNames = field(default_factory=OwnerNames)

    def woke(self, step: str) -> None:
        """Tell the scheduler that `step` has new work (never raises)."""
        try:
            self.on_enqueue(step)
        except Exception:  # noqa: BLE001 - a wake is a hint; the interval still runs the job
            return
