"""Store fixtures, parametrised over SQLite (a temp file) and Postgres.

Postgres comes from SMSYNC_TEST_DATABASE_URL. Unset: the Postgres cases skip, except under
CI, where they fail (never skip in CI). Set but unreachable: they fail. Each test gets its
own freshly created schema, dropped afterwards, because several people share the server.

Registered for every test module by ``tests/conftest.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.store import SqlStore
from connector.store.database import safe_url
from tests.migrated import upgrade
from tests.scratch import scratch_schema

PG_ENV = "SMSYNC_TEST_DATABASE_URL"


def postgres_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set; Postgres tests never skip in CI")
        pytest.skip(f"{PG_ENV} is not set")
    return url


@contextmanager
def scratch_postgres(base_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema; dropped on exit. An
    unreachable server fails the test (it was configured, so it must answer)."""
    try:
        with scratch_schema(base_url, "smsync_t") as url:
            yield url
    except sa.exc.OperationalError as exc:
        pytest.fail(f"Postgres at {safe_url(base_url)} is unreachable: {type(exc).__name__}")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'smsync.db'}"
        return
    with scratch_postgres(postgres_base_url()) as url:
        yield url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def store(migrated_url: str) -> Iterator[SqlStore]:
    s = SqlStore.from_url(migrated_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    """A migrated Postgres store only, for behaviour SQLite does not have."""
    with scratch_postgres(postgres_base_url()) as url:
        upgrade(url)
        s = SqlStore.from_url(url)
        try:
            yield s
        finally:
            s.close()
