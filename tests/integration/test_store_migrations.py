"""Migrations: they build the schema the tables describe, once, and refuse unknown ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from connector.errors import ConfigError
from connector.store import make_engine
from connector.store import tables as tb
from connector.store.migrate import _config, current, head, upgrade
from connector.store.tables import metadata

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def inventory(url: str) -> dict[str, Any]:
    """Tables, columns (name, type, nullable), indexes and unique constraints."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            out: dict[str, Any] = {}
            for table in sorted(insp.get_table_names()):
                out[table] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
                    ],
                    "indexes": sorted(
                        (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                        for i in insp.get_indexes(table)
                    ),
                    "uniques": sorted(
                        (u["name"] or "", tuple(u["column_names"]))
                        for u in insp.get_unique_constraints(table)
                    ),
                }
            out["__version__"] = MigrationContext.configure(conn).get_current_revision()
            return out
    finally:
        engine.dispose()


def test_upgrade_creates_schema_then_is_a_no_op(db_url: str) -> None:
    assert current(db_url) is None
    applied = upgrade(db_url)
    # one step at a time, oldest first
    assert applied == [
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
    assert applied[-1] == head()
    assert current(db_url) == head()
    before = inventory(db_url)
    assert set(metadata.tables) <= set(before)
    assert ("uq_inbox_provider_id", ("provider_id",)) in before["inbox"]["uniques"] or any(
        ix[1] == ("provider_id",) and ix[2] for ix in before["inbox"]["indexes"]
    )

    assert upgrade(db_url) == []
    assert inventory(db_url) == before


def test_migrated_schema_matches_metadata(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_unknown_revision_has_no_migration_path(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match="no migration path"):
        upgrade(migrated_url)


def test_unknown_target_revision_is_a_config_error(db_url: str) -> None:
    with pytest.raises(ConfigError, match="unknown schema revision"):
        upgrade(db_url, "nope")
    assert current(db_url) is None


def test_consent_ledger_refuses_update_and_delete(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO consent_ledger (phone, status, scope, source, at, recorded_at)"
                    " VALUES ('+14155550100', 'opted_out', 'sender', 'keyword',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        for sql in (
            "UPDATE consent_ledger SET status = 'opted_in'",
            "DELETE FROM consent_ledger",
        ):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(sql))
        with engine.connect() as conn:
            status = conn.execute(sa.text("SELECT status FROM consent_ledger")).scalar_one()
        assert status == "opted_out"
    finally:
        engine.dispose()


def test_comparison_would_see_a_drift(migrated_url: str) -> None:
    """Guards the test above against passing vacuously."""
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    sa.Table("not_migrated", drifted, sa.Column("id", sa.Integer, primary_key=True))
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), drifted)
    finally:
        engine.dispose()
    assert [d[0] for d in diffs] == ["add_table"]


def _outboxes(conn: sa.Connection) -> dict[str, str]:
    crm = conn.execute(sa.select(tb.crm_outbox.c.external_id, tb.crm_outbox.c.state)).all()
    sms = conn.execute(sa.select(tb.sms_outbox.c.idempotency_key, tb.sms_outbox.c.state)).all()
    return {str(k): str(v) for k, v in [*crm, *sms]}


def test_0006_dead_letters_given_up_rows_widens_addresses_and_downgrades(db_url: str) -> None:
    upgrade(db_url, "0005")
    crm: dict[str, Any] = {"kind": "activity", "target_type": "Lead", "target_id": "00Q1"}
    crm |= {"fields": {}, "attempts": 8, "created_at": T0}
    sms: dict[str, Any] = {"to_number": "+14155552671", "body": "hi", "send_at": T0}
    sms |= {"attempts": 1, "created_at": T0, "state": "failed"}
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for ext, error in (("gone", "orphaned: deleted"), ("bad", "INVALID_FIELD: no")):
                values = crm | {"external_id": ext, "state": "failed", "last_error": error}
                conn.execute(sa.insert(tb.crm_outbox).values(**values))
            for key, error in (("blocked", "blocked: opted_out"), ("refused", "21606")):
                values = sms | {"idempotency_key": key, "last_error": error}
                conn.execute(sa.insert(tb.sms_outbox).values(**values))
            conn.execute(
                sa.insert(tb.retry_ledger).values(
                    effect="sms",
                    key="refused",
                    reason_code="21606",
                    message="refused",
                    attempts=1,
                    first_failed_at=T0,
                    last_failed_at=T0,
                )
            )
        assert upgrade(db_url, "0006") == ["0006"]
        expected = {"gone": "failed", "bad": "dead", "blocked": "failed", "refused": "dead"}
        with engine.begin() as conn:
            assert _outboxes(conn) == expected
            wide: dict[str, Any] = {"sid": "SMw", "direction": "inbound", "body": ""}
            wide |= {"status": "received"}
            wide |= {"num_segments": 1, "created_at": T0, "updated_at": T0}
            conn.execute(
                sa.insert(tb.messages).values(
                    from_number="whatsapp:+14155550123", to_number="whatsapp:+15005550006", **wide
                )
            )
            conn.execute(sa.delete(tb.messages))
            command.downgrade(_config(conn), "0005")
        with engine.begin() as conn:
            assert set(_outboxes(conn).values()) == {"failed"}
        assert current(db_url) == "0005"
        assert upgrade(db_url, "0006") == ["0006"]
    finally:
        engine.dispose()


def test_0008_keeps_old_entries_for_every_purpose_and_the_ledger_append_only(
    db_url: str,
) -> None:
    upgrade(db_url, "0007")
    insert = (
        "INSERT INTO consent_ledger (phone, status, scope, source, at, recorded_at)"
        " VALUES ('+14155550100', 'opted_out', 'sender', 'keyword',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(insert))
        assert upgrade(db_url, "0008") == ["0008"]
        with engine.begin() as conn:
            purpose = conn.execute(sa.text("SELECT purpose FROM consent_ledger")).scalar_one()
            assert purpose is None  # an old opt-out holds for every purpose
            conn.execute(sa.text(insert.replace("'sender'", "'messaging_service'")))
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE consent_ledger SET purpose = 'marketing'"))
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0007")
        for sql in ("DELETE FROM consent_ledger", "UPDATE consent_ledger SET status = 'x'"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(sql))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM consent_ledger")).scalar_one() == 2
        assert current(db_url) == "0007"
    finally:
        engine.dispose()
