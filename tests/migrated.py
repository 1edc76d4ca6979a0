"""`upgrade` for tests that need a migrated store, not a migration: a new SQLite file is
a byte copy of one this test process migrated with the real `upgrade` (about 0.3-0.5 s
each time otherwise, some 500 times a run). Postgres, an existing file, or a revision
other than head go through the real `upgrade`. The migrations themselves are tested
through the real path in test_store_migrations, test_cli and test_store_database."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from sqlalchemy.engine import make_url

from connector.store import migrate


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


@cache
def _migrated_template() -> tuple[Path, list[str]]:
    """Made once per test process (each xdist worker its own)."""
    folder = tempfile.mkdtemp(prefix="smsync-template-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "head.db"
    return path, migrate.upgrade(f"sqlite:///{path}")


def upgrade(url: str, revision: str = "head") -> list[str]:
    """As `connector.store.migrate.upgrade`, faster for a new SQLite file."""
    path = _sqlite_file(url)
    if revision != "head" or path is None or (path.exists() and path.stat().st_size > 0):
        return migrate.upgrade(url, revision)
    template, applied = _migrated_template()
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return list(applied)
