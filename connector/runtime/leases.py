"""Who runs each periodic job: one replica at a time.

On Postgres every replica holds one dedicated connection and asks, before each run,
`pg_try_advisory_lock(key(job))`. A session-level advisory lock stays with the connection
that took it, so the replica that got it keeps leading; when that replica dies its
connection drops, Postgres frees the lock, and the next replica to ask takes over. TCP
keepalives bound how long a silently vanished peer keeps the lock.

SQLite serves one replica: `SqliteGuard` holds an exclusive `flock` on a file next to the
database for the life of the process, and a second `smsync run` on the same file is
refused before it opens the database."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.pool import NullPool

from connector.errors import ConfigError
from connector.logs import scrub_text
from connector.metrics import ERRORS, JOB_LEADER
from connector.store.database import is_memory_sqlite, normalise_url

log = structlog.get_logger(__name__)

# psycopg connect options: notice a vanished peer within about a minute
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}


class Leadership(Protocol):
    """Asked before every periodic run; True means this replica runs the job now."""

    def leads(self, job: str) -> bool: ...

    def close(self) -> None: ...


def lock_key(namespace: str, job: str) -> int:
    """A signed 64-bit advisory-lock key for `job`, distinct per namespace (schema)."""
    digest = hashlib.blake2b(f"smsync:{namespace}:{job}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SoloLeader:
    """The only replica (SQLite): it leads every job."""

    def leads(self, job: str) -> bool:
        JOB_LEADER.labels(job).set(1)
        return True

    def close(self) -> None:
        """Nothing held beyond the process's SqliteGuard."""


class Leader:
    """Postgres advisory-lock leadership over one dedicated connection.

    `namespace` separates deployments (and tests) sharing one database: advisory locks are
    database-wide. By default it is the connection's `current_schema()`."""

    def __init__(self, url: str, *, namespace: str | None = None) -> None:
        parsed = normalise_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ConfigError("advisory-lock leadership needs Postgres; SQLite is single-replica")
        self._engine = sa.create_engine(
            parsed,
            poolclass=NullPool,
            connect_args=dict(_KEEPALIVES),
            isolation_level="AUTOCOMMIT",
        )
        self._namespace = namespace
        self._conn: sa.Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The backend pid of the connection holding the locks (tests kill it)."""
        with self._lock:
            if self._conn is None:
                return None
            return int(self._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
            if self._namespace is None:
                schema = self._conn.execute(sa.text("SELECT current_schema()")).scalar_one()
                self._namespace = str(schema or "public")
        return self._conn

    def _drop(self, reason: str) -> None:
        """The connection is gone, and with it every lock it held."""
        for job in self._held:
            JOB_LEADER.labels(job).set(0)
        if self._held:
            log.warning("leases.lost", jobs=sorted(self._held), reason=reason)
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except sa.exc.SQLAlchemyError:
                pass
        self._conn = None

    def leads(self, job: str) -> bool:
        """True when this replica holds (or has just taken) the job's lock.

        A held lock is re-checked on each call, so a leader whose connection dropped
        stops running the job instead of running it beside its successor."""
        with self._lock:
            if self._closed:
                return False
            try:
                return self._try(job)
            except sa.exc.SQLAlchemyError as exc:
                ERRORS.labels("leases", type(exc).__name__).inc()
                self._drop(scrub_text(str(getattr(exc, "orig", None) or exc).splitlines()[0]))
                return False

    def _try(self, job: str) -> bool:
        conn = self._connection()
        assert self._namespace is not None
        key = lock_key(self._namespace, job)
        if job in self._held:
            unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
            still = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                    " AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid)"
                ),
                {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
            ).scalar_one()
            if still:
                return True
            self._held.discard(job)
        got = bool(
            conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        )
        JOB_LEADER.labels(job).set(int(got))
        if got:
            self._held.add(job)
            log.info("leases.acquired", job=job)
        return got

    def release(self, job: str) -> None:
        """Hand one job back (the next replica to ask takes it)."""
        with self._lock:
            if job not in self._held or self._conn is None:
                return
            assert self._namespace is not None
            key = lock_key(self._namespace, job)
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            except sa.exc.SQLAlchemyError:
                self._drop("unlock failed")
                return
            self._held.discard(job)
            JOB_LEADER.labels(job).set(0)

    def close(self) -> None:
        """Release every lock (closing the session frees them) and refuse to lead again."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            for job in self._held:
                JOB_LEADER.labels(job).set(0)
            self._held.clear()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()


class SingleReplicaError(ConfigError):
    """Another `smsync run` already serves this SQLite file."""


class SqliteGuard:
    """An exclusive `flock` on `<database>.lock`, held until `release` or process exit.

    `flock` belongs to the open file: the kernel drops it when the process dies, however
    it dies, so a crash never leaves a stale lock behind."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> SqliteGuard:
        """Take the lock or raise SingleReplicaError, writing nothing in that case."""
        if self.path.exists():
            handle = self.path.open("r+", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SingleReplicaError(
                f"another smsync run (pid {holder}) already serves the SQLite database"
                f" {self.database}: SQLite is single-replica. Stop that one first, or move"
                " every replica to Postgres (SMSYNC_DATABASE_URL=postgresql://...)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def sqlite_path(url: str) -> Path | None:
    """The SQLite file behind `url`, or None for Postgres and in-memory SQLite."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite" or is_memory_sqlite(parsed):
        return None
    assert parsed.database is not None
    return Path(parsed.database).expanduser().resolve()
