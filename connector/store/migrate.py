"""Schema migrations (alembic), configured from code so no alembic.ini is needed.

``smsync db upgrade`` (and `smsync run`, `smsync sync --once`) call `upgrade`. Migrations
run one step at a time inside one transaction; a database stamped with a revision this
code does not know stops the run with a ConfigError instead of guessing ("no migration
path"). Commands that only read the store call `require_current` first: it never creates
a SQLite file or table, and says to run `smsync db upgrade` when the schema is not at head.

A database that cannot be reached or written (Postgres down, a wrong password, a missing
schema, a read-only SQLite directory) is a ConfigError saying what to fix (`refused`), so
every command exits 2 with that message rather than a traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import pathname2url

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import ConfigError
from connector.logs import get_logger, scrub_text
from connector.store.database import is_memory_sqlite, make_engine, normalise_url, safe_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent `smsync db upgrade` runs from several replicas on one Postgres.
_PG_LOCK_KEY = 0x5_5D_5C_00_01

log = get_logger(__name__)


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    revision = script_directory().get_current_head()
    assert revision is not None
    return revision


def _current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _check_known(script: ScriptDirectory, revision: str | None, url: str) -> None:
    if revision is None:
        return
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise ConfigError(
            f"the database at {url} is at schema revision {revision!r}, which this version "
            "of smsync does not know: no migration path. Run a newer smsync, or restore a "
            "backup made by this one."
        )


# per backend: (words in the driver's message, what to fix), first match wins
_FIXES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "sqlite": (
        (("database is locked",), "another process holds the SQLite database; stop it first"),
        (
            ("readonly", "read-only", "unable to open", "permission denied", "not permitted"),
            (
                "make the SQLite file and its directory writable by this user, or point"
                " SMSYNC_DATABASE_URL elsewhere"
            ),
        ),
    ),
    "postgresql": (
        (
            ("password authentication", 'role "', "authentication failed"),
            "check the user and password in SMSYNC_DATABASE_URL",
        ),
        (
            ("no schema has been selected", 'schema "'),
            "create the schema (CREATE SCHEMA ...) or fix search_path in SMSYNC_DATABASE_URL",
        ),
        (('database "',), "create the database, or fix its name in SMSYNC_DATABASE_URL"),
        (("permission denied",), "grant this user CREATE and USAGE on the schema"),
        (
            ("connection", "could not translate host", "timeout", "timed out", "no route"),
            (
                "check the host and port in SMSYNC_DATABASE_URL, and that Postgres is running"
                " and reachable from here"
            ),
        ),
    ),
}


def refused(exc: BaseException, url: str) -> ConfigError:
    """The operator's version of a driver or file-system error: where, why, what to fix."""
    orig = getattr(exc, "orig", None) or exc
    reason = scrub_text((str(orig).strip().splitlines() or [type(orig).__name__])[0])
    lowered = reason.lower()
    fixes = _FIXES.get(normalise_url(url).get_backend_name(), ())
    fix = next(
        (fix for words, fix in fixes if any(w in lowered for w in words)),
        "check SMSYNC_DATABASE_URL (host, database, schema, permissions)",
    )
    return ConfigError(f"the database at {safe_url(url)} refused: {reason}; {fix}")


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a database failure inside the block into `refused(...)`."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise refused(exc, url) from None


def _engine(url: str) -> sa.Engine:
    """`make_engine`, whose mkdir of a SQLite file's directory may fail like the database."""
    try:
        return make_engine(url)
    except OSError as exc:
        raise refused(exc, url) from None


def current(url: str) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _current(conn)
    finally:
        engine.dispose()


def _read_only_revision(url: str) -> str | None:
    """The revision, read without creating anything: None when the database (a SQLite
    file) does not exist or was never migrated."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if is_memory_sqlite(parsed):
            return None  # a new in-memory database is always empty
        assert parsed.database is not None
        path = Path(parsed.database).expanduser().resolve()
        if not path.is_file():
            return None
        uri = f"file:{pathname2url(str(path))}?mode=ro"
        engine = sa.create_engine(
            "sqlite+pysqlite://", creator=lambda: sqlite3.connect(uri, uri=True)
        )
    else:
        engine = _engine(url)
    try:
        with engine.connect() as conn:
            return _current(conn)
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """For commands that read the store without migrating it: the schema is at head, or a
    ConfigError says to run `smsync db upgrade`. Creates no file, directory or table."""
    shown = safe_url(url)
    with database_errors(url):
        at = _read_only_revision(url)
    _check_known(script_directory(), at, shown)
    need = head()
    if at != need:
        raise ConfigError(
            f"the database at {shown} is not migrated (at {at or 'none'}, need {need}):"
            " run `smsync db upgrade`"
        )


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply migrations up to `revision`; returns the revisions applied, oldest first.
    A database that cannot be reached or written is a ConfigError (`refused`)."""
    with database_errors(url):
        return _upgrade(url, revision)


def _upgrade(url: str, revision: str) -> list[str]:
    engine = _engine(url)
    script = script_directory()
    shown = safe_url(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            before = _current(conn)
            _check_known(script, before, shown)
            try:
                target = script.get_revision(revision)
            except CommandError as exc:
                raise ConfigError(f"unknown schema revision {revision!r}: {exc}") from None
            if target is None:
                raise ConfigError(f"unknown schema revision {revision!r}")
            command.upgrade(_config(conn), revision)
            after = _current(conn)
    finally:
        engine.dispose()
    if after == before:
        return []
    applied = [rev.revision for rev in script.iterate_revisions(after, before) if rev is not None]
    applied.reverse()
    log.info("store.migrated", url=shown, applied=applied, revision=after)
    return applied
