"""The two dialect-specific statements the repositories need, in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.database import dumps


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


def insert_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_on: Sequence[str] | None = None,
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[sa.Row[Any]]:
    """Insert many rows (all with the same keys) in a few statements, a pull's batch: with
    `conflict_on`, a row whose key is taken updates the `update` columns (or, with none,
    is skipped); the `returning` columns of each row written come back, in no set order.

    Postgres gets one INSERT ... SELECT FROM unnest() of one array per column: psycopg
    parses a short statement once, where the multi-row VALUES SQLAlchemy builds for an
    executemany with RETURNING costs it more client CPU than the rows (a 100,000-contact
    pull: 45 s against 3). SQLite gets that executemany ("insertmanyvalues"), which is fast
    there. Rows with the same key in one call are for `conflict_on` to refuse on Postgres
    (ON CONFLICT DO UPDATE affects a row once a statement): callers pass distinct keys."""
    if not rows:
        return []
    columns = tuple(rows[0])
    stmt = _insert_rows_statement(
        conn, table, columns, conflict_on=conflict_on, update=tuple(update), returning=returning
    )
    if conn.dialect.name == "postgresql":
        params = {
            f"a_{name}": [
                _json_text(row[name]) if isinstance(table.c[name].type, sa.JSON) else row[name]
                for row in rows
            ]
            for name in columns
        }
        result = conn.execute(stmt, params)
    else:
        result = conn.execute(stmt, list(rows))
    return list(result) if returning else []


_INSERT_ROWS: dict[tuple[Any, ...], Any] = {}


def _insert_rows_statement(
    conn: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    *,
    conflict_on: Sequence[str] | None,
    update: tuple[str, ...],
    returning: Sequence[str],
) -> Any:
    dialect = conn.dialect.name
    key = (dialect, table.name, columns, tuple(conflict_on or ()), update, tuple(returning))
    stmt = _INSERT_ROWS.get(key)
    if stmt is not None:
        return stmt
    if dialect == "postgresql":
        stmt = postgresql.insert(table).from_select(
            list(columns), sa.select(*map(_unnest, [table.c[name] for name in columns]))
        )
    else:
        stmt = sqlite.insert(table)
    if conflict_on is not None:
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(conflict_on),
                set_={name: stmt.excluded[name] for name in update},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_on))
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
    _INSERT_ROWS[key] = stmt
    return stmt


def _unnest(column: sa.Column[Any]) -> Any:
    """One column's array, unnested: a JSON column travels as text and is cast back (a
    list inside the array would read as another dimension)."""
    if isinstance(column.type, sa.JSON):
        array = sa.bindparam(f"a_{column.name}", type_=postgresql.ARRAY(sa.Text))
        return sa.cast(sa.func.unnest(array), column.type)
    return sa.func.unnest(sa.bindparam(f"a_{column.name}", type_=postgresql.ARRAY(column.type)))


def _json_text(value: Any) -> str:
    return dumps(value)  # as SQLAlchemy's JSON type writes it (None is JSON null)
