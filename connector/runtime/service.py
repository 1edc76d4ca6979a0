"""`smsync run`: validate, take the replica guard, migrate, then serve HTTP and run jobs
until SIGTERM or SIGINT.

Start-up order is what makes "bad input changes nothing" true: settings, mapping, plays and
credentials (`wiring.configure`) and the HTTP port are all checked, and each vendor is
reached once (`connector.runtime.startup`, `SMSYNC_STARTUP_CHECKS`), before the database is
created or migrated, so a mistake exits 2 with nothing written. A HubSpot OAuth pair kept by
an earlier run is read from an existing database first, and one the check rotates is kept
until the database exists (`connector.runtime.vault`). Then the SQLite single-replica guard
(before the file is touched; taken first when the file exists, so a second replica
refreshes no token under the first), then migrations (what `smsync db upgrade` does; a
database that cannot be reached or written exits 2 with the fix), then `wiring.build`, the
jobs and uvicorn.

Shutdown on SIGTERM: jobs stop claiming work at once (the `stopping` event), uvicorn stops
accepting and finishes its requests, the batches in flight get until
`SMSYNC_SHUTDOWN_TIMEOUT_S` to settle, then the leases are released and the process exits
0. A batch cut off by the deadline is safe: its outbox rows stay leased, the lease expires,
and the replay is an upsert by external id."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import structlog
import uvicorn

from connector.config import Settings, mapping_path
from connector.crm.live_check import at_start
from connector.engine.plan import plays_path
from connector.errors import ConfigError
from connector.ops.admin import admin_routes
from connector.runtime import startup
from connector.runtime.api import api_routes
from connector.runtime.app import build_app
from connector.runtime.jobs import Jobs
from connector.runtime.leases import Leader, Leadership, SoloLeader, SqliteGuard, sqlite_path
from connector.runtime.links import link_routes
from connector.runtime.readiness import Check, Readiness, standard_checks, vendor_checks
from connector.runtime.registry import FACTORIES, JobFactory, build_jobs, on_recover
from connector.runtime.webhooks import webhook_routes
from connector.runtime.wiring import Components, build, configure
from connector.store import SqlStore, claims
from connector.store.database import safe_url
from connector.store.migrate import upgrade

log = structlog.get_logger(__name__)


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


def expire_dead_leases(store: SqlStore) -> int:
    """SQLite only, under the single-replica guard: every lease in the database belongs to
    a process that is gone (this one has claimed nothing yet), so its rows are claimable
    now rather than when the lease runs out. The rows keep their holder, so a late
    settlement by that holder is still refused (`claims.finish`); the replay is keyed."""
    now = datetime.now(UTC)
    expired = 0
    with store.begin() as conn:
        expired += claims.expire_held(conn, now)
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
        configured = configure(s, require_sms=True)  # raises before anything is written
        sock = bind(s.http_host, s.http_port)
        guard: SqliteGuard | None = None
        parts: Components | None = None
        leadership: Leadership | None = None
        try:
            path = sqlite_path(s.database_url)
            if path is not None and path.exists():  # a restart: no second replica refreshes
                guard = _guard(s.database_url, path)  # the HubSpot token under the first
            checks = vendor_checks(
                s, hubspot_tokens=configured.hubspot_tokens, clock=configured.clock
            )
            startup.reach_vendors(s, checks)
            at_start(  # the files against the live org: warn, or with strict exit 2
                s,
                configured.mapping,
                mapping_path(s),
                plays_path(s),
                hubspot_tokens=configured.hubspot_tokens,
            )
            if path is not None and guard is None:
                guard = _guard(s.database_url, path)
            upgrade(s.database_url)  # logs what it applied; a no-op when current
            holder: list[Jobs] = []

            def wake(name: str) -> bool:
                return holder[0].wake(name) if holder else False

            parts = build(s, configured=configured, wake=wake)
            sqlite = parts.store.dialect == "sqlite"
            if sqlite:
                expire_dead_leases(parts.store)
            leadership = SoloLeader() if sqlite else Leader(s.database_url)
            self._serve(parts, sock, leadership, holder)
        finally:
            sock.close()
            if leadership is not None:
                leadership.close()
            if parts is not None:
                parts.close()
            if guard is not None:
                guard.release()
        log.info("runtime.stopped", unfinished=self.unfinished)
        return 0

    def _serve(
        self, parts: Components, sock: socket.socket, leadership: Leadership, holder: list[Jobs]
    ) -> None:
        s = self.settings
        job_list, _missing = build_jobs(parts, self.factories)
        jobs = Jobs(job_list, leadership)
        holder.append(jobs)
        self._jobs = jobs
        checks = (
            self.checks
            if self.checks is not None
            else standard_checks(
                s, parts.store, hubspot_tokens=parts.hubspot_tokens, clock=parts.clock
            )
        )
        app = build_app(
            Readiness(checks, cache_s=s.ready_cache_s, on_recover=on_recover(parts)),
            webhooks=[
                *webhook_routes(s, parts.store, clock=parts.clock),
                *api_routes(s, parts.engine),
                *admin_routes(s, parts.store, clock=parts.clock),
                *link_routes(parts.store, clock=parts.clock, on_click=lambda: jobs.wake("ingest")),
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
        self.port = int(sock.getsockname()[1])
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
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            self.stop("server stopped")
            deadline = self._deadline or time.monotonic()
            self.unfinished = jobs.shutdown(max(deadline - time.monotonic(), 0.0))


def _guard(url: str, path: Path) -> SqliteGuard:
    """The single-replica guard of the SQLite file at `path`; ConfigError when its lock
    file cannot be created."""
    try:
        return SqliteGuard(path).acquire()
    except OSError as exc:
        raise ConfigError(
            f"the database at {safe_url(url)} cannot be used: its lock file"
            f" cannot be created ({exc.strerror}); make {path.parent} writable by this"
            " user, or point SMSYNC_DATABASE_URL elsewhere"
        ) from None
