"""Engine URLs, SQLite pragmas and the UTC column type, on real SQLite databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.errors import ConfigError
from connector.store import make_engine
from connector.store.database import normalise_url, safe_url
from connector.store.migrate import current, upgrade
from connector.store.tables import cursors


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://u:p@db/x", "postgresql+psycopg"),
        ("postgresql://u:p@db/x", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@db/x", "postgresql+psycopg"),
        ("sqlite:///var/smsync.db", "sqlite+pysqlite"),
        ("sqlite://", "sqlite+pysqlite"),
    ],
)
def test_supported_urls_are_normalised(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter22@db/x", "postgresql+psycopg2://u:hunter22@db/x", "nonsense"]
)
def test_unsupported_url_names_the_supported_schemes_not_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_engine(url)
    assert "sqlite" in str(info.value)
    assert "postgresql" in str(info.value)
    assert "hunter22" not in str(info.value)


def test_safe_url_hides_the_password() -> None:
    shown = safe_url("postgres://smsync:hunter22@db:5432/smsync")
    assert "hunter22" not in shown
    assert "smsync:***@db" in shown


def test_sqlite_file_gets_wal_busy_timeout_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///var/smsync.db")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "synchronous": 1,
    }
    assert (tmp_path / "var" / "smsync.db").is_file()


def test_upgrade_on_a_brand_new_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `smsync db upgrade` does with the default SMSYNC_DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    assert upgrade("sqlite:///var/smsync.db") == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
        "0010",
        "0011",
        "0012",
        "0013",
        "0014",
        "0015",
        "0016",
    ]
    assert current("sqlite:///var/smsync.db") == "0016"
    engine = make_engine("sqlite:///var/smsync.db")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()


def test_memory_sqlite_is_one_database_across_connections() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def test_datetimes_round_trip_as_aware_utc_and_naive_ones_are_refused() -> None:
    engine = make_engine("sqlite://")
    cursors.metadata.create_all(engine, tables=[cursors])
    ist = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2024, 3, 10, 7, 30, tzinfo=ist)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(cursors).values(name="a", modstamp=at, record_id="1", updated_at=at)
            )
            got = conn.execute(sa.select(cursors.c.modstamp)).scalar_one()
            assert got == at
            assert got.tzinfo is UTC
            # Stored as UTC text, so string comparison in SQL orders correctly.
            later = at + timedelta(minutes=1)
            assert (
                conn.execute(
                    sa.select(sa.func.count()).where(cursors.c.modstamp < later)
                ).scalar_one()
                == 1
            )
        with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as conn:
            conn.execute(
                sa.insert(cursors).values(
                    name="b",
                    modstamp=datetime(2024, 1, 1),  # noqa: DTZ001 - the point of the test
                    record_id="1",
                    updated_at=at,
                )
            )
    finally:
        engine.dispose()


def test_a_database_error_never_carries_the_statements_values(tmp_path: Path) -> None:
    """Error messages reach logs and last_error columns: no phone number or text in them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        with pytest.raises(sa.exc.SQLAlchemyError) as caught, engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO nowhere VALUES (:phone)"), {"phone": "+14155550123"})
    finally:
        engine.dispose()
    assert "+14155550123" not in str(caught.value)
    assert "hidden" in str(caught.value)
