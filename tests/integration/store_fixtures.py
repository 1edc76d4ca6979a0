"""Store fixtures, parametrised over SQLite (a temp file) and Postgres.

Postgres comes from SMSYNC_TEST_DATABASE_URL. Unset: the Postgres cases skip, except under
CI, where they fail (never skip in CI). Set but unreachable: they fail. Each test gets its
own freshly created schema, dropped afterwards, because several people share the server.

Registered for every test module by ``tests/conftest.py``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from connector.store import SqlStore, make_engine
from connector.store.engine import safe_url
from connector.store.migrate import upgrade

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
    """A URL whose connections see only a new, empty schema; dropped on exit."""
    schema = f"smsync_t_{secrets.token_hex(6)}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"Postgres at {safe_url(base_url)} is unreachable: {type(exc).__name__}")
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


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
