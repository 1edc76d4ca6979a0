"""What every engine step runs over: settings, the mapping, the store, both ports, a clock.

The steps (pull, plan, send, ingest, writeback, sweep) take one `EngineContext`, so the
CLI, the sidecar's jobs and the tests build it once and hand it round. `on_enqueue` is how
new work reaches the scheduler: a step that committed CRM writes calls it with
``"writeback"`` (or SMS rows with ``"send"``), and `smsync run` hooks it to
``jobs.wake(name)``, so new work does not wait for the next interval."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection

from connector.config import MappingConfig, Settings, load_mapping, mapping_path
from connector.crm import build_crm
from connector.domain.model import ContactState
from connector.domain.signals import Signal
from connector.engine.owners import OwnerNames
from connector.ports import Clock, CrmPort, SmsPort
from connector.store import SqlStore
from connector.store.id_map import StoreIdMap
from connector.store.oauth_tokens import StoreTokenVault


class Planner(Protocol):
    def plan(
        self, conn: Connection, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> int:
        """Queue the sends the signals allow, in `conn` (the pull's own transaction), so a
        send enters the SMS outbox atomically with the state change that caused it.
        Returns how many sends were queued."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


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
    owner_names: OwnerNames = field(default_factory=OwnerNames)

    def woke(self, step: str) -> None:
        """Tell the scheduler that `step` has new work (never raises)."""
        try:
            self.on_enqueue(step)
        except Exception:  # noqa: BLE001 - a wake is a hint; the interval still runs the job
            return


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    planner: Planner | None = None,
    store: SqlStore | None = None,
    mapping: MappingConfig | None = None,
) -> EngineContext:
    """Load the mapping, open the store, and build the CRM adapter (with the durable id map)
    and, when Twilio is configured, the SMS client. `store` and `mapping` override the
    settings' own (tests)."""
    from connector.sms.twilio.client import TwilioSms

    config = mapping if mapping is not None else load_mapping(mapping_path(settings))
    db = store if store is not None else SqlStore.from_url(settings.database_url)
    the_clock: Clock = clock if clock is not None else SystemClock()
    crm = build_crm(
        settings,
        config,
        id_map=StoreIdMap(db, the_clock.now),
        token_vault=StoreTokenVault(db, "hubspot", the_clock.now),
    )
    sms: SmsPort | None = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        sms = TwilioSms.from_settings(settings)
    return EngineContext(
        settings=settings,
        mapping=config,
        store=db,
        crm=crm,
        sms=sms,
        clock=the_clock,
        worker_id=default_worker_id(),
        planner=planner,
    )
