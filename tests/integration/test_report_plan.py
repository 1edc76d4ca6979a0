"""Acceptance 4's means: on SQLite the report reads `messages` through migration 0003's
indexes (checked with EXPLAIN QUERY PLAN on the statements the report really runs), and it
leaves no temporary table behind on the connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from connector.report.queries import GroupBy, Scope, build_report
from connector.store import SqlStore
from tests.integration import report_kit as kit
from tests.migrated import upgrade


def test_report_uses_the_message_indexes_and_cleans_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    store = SqlStore.from_url(url)
    plans: list[str] = []

    def explain(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "INSERT")):
            cur = conn.connection.dbapi_connection.cursor()
            try:
                cur.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                plans.extend(str(row[3]) for row in cur.fetchall())
            finally:
                cur.close()

    try:
        with store.begin() as conn:
            kit.build(conn)
        event.listen(store.engine, "before_cursor_execute", explain)
        with store.begin() as conn:
            report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.PLAY), kit.OUTCOMES)
            left = conn.exec_driver_sql("SELECT name FROM sqlite_temp_master").all()
        event.remove(store.engine, "before_cursor_execute", explain)
    finally:
        store.close()

    assert report.total.attempted == 24  # the report ran (the figures test checks them all)
    assert left == []
    assert any("COVERING INDEX ix_messages_direction_created_at" in p for p in plans), plans
    assert any(
        "INDEX ix_messages_contact_type_contact_id_direction_created_at" in p for p in plans
    ), plans
    # no full pass over the messages table itself
    assert not [p for p in plans if p.startswith("SCAN messages") and "INDEX" not in p]
