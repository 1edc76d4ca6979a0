"""The two dialect-specific statements the repositories need, in one place."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that understands ON CONFLICT on this connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def lock_for_claim(conn: sa.Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Postgres: rows another worker holds are skipped, not waited for. SQLite: every
    transaction already holds the single writer lock (BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def lock_row(conn: sa.Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    if conn.dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def insert_if_absent(
    conn: sa.Connection,
    table: sa.Table,
    values: dict[str, Any],
    conflict_on: list[str] | None = None,
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted.

    Reads RETURNING rather than rowcount, which is -1 on psycopg for an INSERT that
    SQLAlchemy gives an implicit RETURNING."""
    stmt = insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=conflict_on)
    return conn.execute(stmt.returning(table.c.id)).first() is not None
