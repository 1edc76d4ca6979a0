"""The state store's database: its URL, its engine (SQLite for one replica, in WAL mode, or
Postgres for several) and `SqlStore`, the `Store` port over that engine.

SQLite connections run every transaction as ``BEGIN IMMEDIATE``: the writer lock is taken
up front, so a transaction that reads and then writes (an outbox claim, a monotonic status
update) never fails half-way with SQLITE_BUSY, and ``busy_timeout`` makes the others wait.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from connector.errors import ConfigError

# What a caller outside the store catches when the database itself refuses (a missing
# table, a locked file): the store's name for it, so SQLAlchemy stays inside the store.
DatabaseError = SQLAlchemyError

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
_BUSY_TIMEOUT_MS = 5000


def normalise_url(url: str) -> URL:
    """Parse a database URL and pin Postgres to the psycopg 3 driver.

    Errors never echo the URL itself: it may carry a password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "SMSYNC_DATABASE_URL is not a valid database URL; "
            f"supported schemes: {', '.join(SUPPORTED_SCHEMES)}"
        ) from None
    scheme = parsed.drivername
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigError(
        f"SMSYNC_DATABASE_URL scheme {scheme!r} is not supported; "
        f"use one of: {', '.join(SUPPORTED_SCHEMES)}"
    )


def safe_url(url: str | URL) -> str:
    """The URL as it may appear in logs and errors: password hidden."""
    parsed = url if isinstance(url, URL) else normalise_url(url)
    return parsed.render_as_string(hide_password=True)


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: object) -> str:
    """JSON columns accept datetimes and enums (as ISO text and their value)."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; creates the SQLite file's parent directory when missing.

    Its errors never carry the statement's parameters (phone numbers, texts): an
    exception's message may end up in a log line or a row's last_error."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True, json_serializer=dumps, hide_parameters=True)


def _sqlite_engine(url: URL) -> sa.Engine:
    kwargs: dict[str, Any] = {}
    if is_memory_sqlite(url):
        # One shared in-memory database for every connection of this engine.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        assert url.database is not None
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, json_serializer=dumps, hide_parameters=True, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def ping(conn: sa.Connection) -> None:
    """One round trip: raises when the database does not answer (the readiness check)."""
    conn.execute(sa.text("SELECT 1"))


class SqlStore:
    """Repositories take the Connection this yields, so a state change and the outbox row
    it causes commit together or not at all."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
