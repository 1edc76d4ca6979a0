"""cursors: where each incremental pull resumes, a (modstamp, id) pair from the server."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from connector.ports import Cursor
from connector.store.dialect import insert
from connector.store.tables import cursors as t


def get(conn: sa.Connection, name: str) -> Cursor | None:
    row = conn.execute(sa.select(t).where(t.c.name == name)).one_or_none()
    return None if row is None else Cursor(modstamp=row.modstamp, id=row.record_id)


def set_(conn: sa.Connection, name: str, cursor: Cursor, now: datetime) -> None:
    """Store the cursor; commit it in the same transaction as the state it covers."""
    values = {"modstamp": cursor.modstamp, "record_id": cursor.id, "updated_at": now}
    stmt = insert(conn, t).values(name=name, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def delete(conn: sa.Connection, name: str) -> bool:
    """Forget a cursor, so the next pull starts over (an operator's reset)."""
    return conn.execute(sa.delete(t).where(t.c.name == name)).rowcount == 1
