"""`smsync run`: validate, take the replica guard, migrate, then serve HTTP and run jobs
until SIGTERM or SIGINT.

Start-up order is what makes "bad input changes nothing" true: settings, mapping, plays,
credentials and the HTTP port are all checked, and each vendor is reached once
(`connector.runtime.startup`, `SMSYNC_STARTUP_CHECKS`), before the database is opened, so
a mistake exits 2 with nothing written. Then the SQLite single-replica guard (before the
file is touched), then migrations (what `smsync db upgrade` does; a database that cannot
be reached or written exits 2 with the fix), then the jobs and uvicorn.

Shutdown on SIGTERM: jobs stop claiming work at once (the `stopping` event), uvicorn stops
accepting and finishes its requests, the batches in flight get until
`SMSYNC_SHUTDOWN_TIMEOUT_S` to settle, then the leases are released and the process exits
0. A batch cut off by the deadline is safe: its outbox rows stay leased, the lease expires,
and the replay is an upsert by external id."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog
import uvicorn

from connector.config import MappingConfig, Settings, load_mapping, mapping_path
from connector.crm import build_crm
from connector.engine.context import Planner
from connector.engine.plan import build_planner
from connector.errors import ConfigError
from connector.ops.admin import admin_routes
from connector.ports import CrmPort, IdMap
from connector.runtime import startup
from connector.runtime.api import api_routes
from connector.runtime.app import build_app
from connector.runtime.jobs import Jobs
from connector.runtime.leases import Leader, Leadership, SoloLeader, SqliteGuard, sqlite_path
from connector.runtime.readiness import Check, Readiness, standard_checks, vendor_checks
from connector.runtime.registry import (
    FACTORIES,
    JobContext,
    JobFactory,
    UtcClock,
    build_jobs,
    engine_context,
    on_recover,
)
from connector.runtime.webhooks import webhook_routes
from connector.sms.twilio.client import TwilioSms
from connector.store import SqlStore
from connector.store.database import safe_url
from connector.store.id_map import StoreIdMap
from connector.store.migrate import upgrade
from connector.store.tables import crm_outbox, inbox, sms_outbox

if TYPE_CHECKING:
    from connector.crm.hubspot.auth import TokenSource

log = structlog.get_logger(__name__)


class LateIdMap:
    """The CRM adapter is built (and so checked) before the store exists; its id map is
    bound to the store once the store is open."""

    def __init__(self) -> None:
        self.target: IdMap | None = None

    def _bound(self) -> IdMap:
        if self.target is None:
            raise RuntimeError("the id map is used before the store was opened")
        return self.target

    def get_many(self, external_ids: Sequence[str]) -> dict[str, str]:
        return self._bound().get_many(external_ids)

    def put_many(self, pairs: dict[str, str]) -> None:
        self._bound().put_many(pairs)


@dataclass
class Prepared:
    """Everything checked before the database is touched."""

    settings: Settings
    mapping: MappingConfig
    crm: CrmPort
    sms: TwilioSms
    id_map: LateIdMap
    sock: socket.socket
    planner: Planner | None = None
    hubspot_tokens: TokenSource | None = None  # the adapter's, shared with /readyz

    def close(self) -> None:
        self.sock.close()
        close = getattr(self.crm, "close", None)
        if callable(close):
            close()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the database is opened (a port in use is a
    configuration problem, reported without side effects)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"SMSYNC_HTTP_HOST:SMSYNC_HTTP_PORT {host}:{port} cannot be bound ({exc.strerror});"
            " pick a free port or stop what holds it"
        ) from None
    sock.listen(socketserver.TCPServer.request_queue_size * 100)
    sock.set_inheritable(True)
    return sock


def prepare(settings: Settings) -> Prepared:
    """Validate the whole configuration and reach each vendor once; raises ConfigError
    (ConfigFileError) and writes nothing."""
    mapping = load_mapping(mapping_path(settings))
    planner = build_planner(settings, mapping)  # the plays file, validated against the mapping
    safe_url(settings.database_url)  # a malformed URL is a ConfigError here
    sms, tokens = startup.credentials(settings)
    id_map = LateIdMap()
    crm = build_crm(settings, mapping, id_map=id_map, hubspot_tokens=tokens)
    sock = bind(settings.http_host, settings.http_port)
    ready = Prepared(settings, mapping, crm, sms, id_map, sock, planner, tokens)
    try:
        startup.reach_vendors(settings, vendor_checks(settings, hubspot_tokens=tokens))
    except BaseException:
        ready.close()
        raise
    return ready


def expire_dead_leases(store: SqlStore) -> int:
    """SQLite only, under the single-replica guard: every lease in the database belongs to
    a process that is gone (this one has claimed nothing yet), so its rows are claimable
    now rather than when the lease runs out. The rows keep their holder, so a late
    settlement by that holder is still refused (`claims.finish`); the replay is keyed."""
    now = datetime.now(UTC)
    expired = 0
    with store.begin() as conn:
        for table in (inbox, crm_outbox, sms_outbox):
            expired += conn.execute(
                sa.update(table)
                .where(table.c.claimed_by.is_not(None), table.c.lease_until > now)
                .values(lease_until=now)
            ).rowcount
    if expired:
        log.info("runtime.leases_expired", rows=expired, reason="their process is gone")
    return expired


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGTERM/SIGINT, and
    uvicorn's habit of re-raising the signal after shutdown would turn exit 0 into 143."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Service:
    """The sidecar. `run()` blocks until a stop signal; returns the exit code."""

    settings: Settings
    factories: dict[str, JobFactory | None] = field(default_factory=lambda: dict(FACTORIES))
    checks: Mapping[str, Check] | None = None  # default: database, crm, sms
    install_signals: bool = True
    unfinished: list[str] = field(default_factory=list)
    port: int | None = None
    _server: _Server | None = None
    _jobs: Jobs | None = None
    _stop_requested: threading.Event = field(default_factory=threading.Event)
    _deadline: float | None = None

    def stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (what SIGTERM does); safe from any thread."""
        if self._stop_requested.is_set():
            if self._server is not None:
                self._server.force_exit = True  # a second signal: stop waiting on requests
            return
        self._stop_requested.set()
        self._deadline = time.monotonic() + self.settings.shutdown_timeout_s
        log.info("runtime.stopping", reason=reason, timeout_s=self.settings.shutdown_timeout_s)
        if self._jobs is not None:
            self._jobs.stopping.set()  # stop claiming work now
        if self._server is not None:
            self._server.should_exit = True

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop(signal.Signals(signum).name)

    def run(self) -> int:
        s = self.settings
        if self.install_signals:  # first: a SIGTERM during start-up is a graceful stop too
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        ready = prepare(s)  # raises before anything is written
        guard: SqliteGuard | None = None
        path = sqlite_path(s.database_url)
        if path is not None:
            try:
                guard = SqliteGuard(path).acquire()
            except OSError as exc:
                ready.close()
                raise ConfigError(
                    f"the database at {safe_url(s.database_url)} cannot be used: its lock file"
                    f" cannot be created ({exc.strerror}); make {path.parent} writable by this"
                    " user, or point SMSYNC_DATABASE_URL elsewhere"
                ) from None
        store: SqlStore | None = None
        leadership: Leadership | None = None
        try:
            upgrade(s.database_url)  # logs what it applied; a no-op when current
            store = SqlStore.from_url(s.database_url)
            ready.id_map.target = StoreIdMap(store)
            sqlite = store.dialect == "sqlite"
            if sqlite:
                expire_dead_leases(store)
            leadership = SoloLeader() if sqlite else Leader(s.database_url)
            self._serve(ready, store, leadership)
        finally:
            ready.close()
            if leadership is not None:
                leadership.close()
            if store is not None:
                store.close()
            if guard is not None:
                guard.release()
        log.info("runtime.stopped", unfinished=self.unfinished)
        return 0

    def _serve(self, ready: Prepared, store: SqlStore, leadership: Leadership) -> None:
        s = self.settings
        holder: list[Jobs] = []

        def wake(name: str) -> bool:
            return holder[0].wake(name) if holder else False

        ctx = JobContext(
            settings=s,
            store=store,
            mapping=ready.mapping,
            crm=ready.crm,
            sms=ready.sms,
            clock=UtcClock(),
            worker_id=f"{socket.gethostname()}:{os.getpid()}",
            wake=wake,
            planner=ready.planner,
        )
        job_list, _missing = build_jobs(ctx, self.factories)
        jobs = Jobs(job_list, leadership)
        holder.append(jobs)
        self._jobs = jobs
        checks = (
            self.checks
            if self.checks is not None
            else standard_checks(s, store, hubspot_tokens=ready.hubspot_tokens)
        )
        app = build_app(
            Readiness(checks, cache_s=s.ready_cache_s, on_recover=on_recover(ctx)),
            webhooks=[
                *webhook_routes(s, store),
                *api_routes(s, engine_context(ctx)),
                *admin_routes(s, store),
            ],
            on_webhook=lambda: jobs.wake("ingest"),
        )
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(int(s.shutdown_timeout_s), 1),
        )
        server = _Server(config)
        self._server = server
        self.port = int(ready.sock.getsockname()[1])
        if self._stop_requested.is_set():
            server.should_exit = True
            jobs.stopping.set()
        jobs.start()
        log.info(
            "runtime.listening",
            host=s.http_host,
            port=self.port,
            jobs=jobs.names,
            replica_mode="single (SQLite)" if isinstance(leadership, SoloLeader) else "postgres",
        )
        try:
            asyncio.run(server.serve(sockets=[ready.sock]))
        finally:
            self.stop("server stopped")
            deadline = self._deadline or time.monotonic()
            self.unfinished = jobs.shutdown(max(deadline - time.monotonic(), 0.0))
