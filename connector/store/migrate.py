"""Schema migrations (alembic), configured from code so no alembic.ini is needed.

``smsync db upgrade`` calls `upgrade`. Migrations run one step at a time inside one
transaction; a database stamped with a revision this code does not know stops the run
with a ConfigError instead of guessing ("no migration path")."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from connector.errors import ConfigError
from connector.logs import get_logger
from connector.store.engine import make_engine, safe_url

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


def current(url: str) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _current(conn)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply migrations up to `revision`; returns the revisions applied, oldest first."""
    engine = make_engine(url)
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
