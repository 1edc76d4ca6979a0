"""timed_instants: each contact's next instant per timed trigger, so the clock's scan reads
the contacts whose instant fell in its window through an index on the instant, not every
contact's segments (issue #21: 3.3 s for 200,000 contacts, growing with the org).

What the instants are is the engine's business (`engine.timed.instants`); this module
stores them, replaces a contact's set when its state changes, and answers "who is due"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef
from connector.store.dialect import insert, insert_rows
from connector.store.tables import contact_state as contacts
from connector.store.tables import timed_instants as t

CHUNK = 500  # ids per IN list: well under SQLite's bound variables and Postgres's limits
Instants = dict[str, datetime]  # trigger key -> due instant


def replace(conn: sa.Connection, marks: Sequence[tuple[int, Instants]]) -> None:
    """Each contact's instants become exactly these (none: it leaves the index)."""
    ids = [contact_id for contact_id, _ in marks]
    for start in range(0, len(ids), CHUNK):
        conn.execute(sa.delete(t).where(t.c.contact_id.in_(ids[start : start + CHUNK])))
    rows: list[dict[str, Any]] = [
        {"contact_id": contact_id, "trigger": key, "due_at": at}
        for contact_id, found in marks
        for key, at in found.items()
    ]
    insert_rows(conn, t, rows)


def add(conn: sa.Connection, marks: Sequence[tuple[int, Instants]]) -> None:
    """A rebuild's rows into a cleared index: a row a concurrent pull wrote meanwhile is
    kept (it is as new as this one, or newer), so nothing waits on a delete."""
    rows: list[dict[str, Any]] = [
        {"contact_id": contact_id, "trigger": key, "due_at": at}
        for contact_id, found in marks
        for key, at in found.items()
    ]
    if rows:
        stmt = insert(conn, t).on_conflict_do_nothing(index_elements=["contact_id", "trigger"])
        conn.execute(stmt, rows)


def clear(conn: sa.Connection) -> None:
    conn.execute(sa.delete(t))


def live_page(conn: sa.Connection, after_id: int, limit: int) -> list[tuple[int, dict[str, str]]]:
    """Live records with a number, by row id: (row id, segments), for a rebuild."""
    rows = conn.execute(
        sa.select(contacts.c.id, contacts.c.segments)
        .where(
            contacts.c.id > after_id,
            contacts.c.deleted.is_(False),
            contacts.c.phone.is_not(None),
        )
        .order_by(contacts.c.id)
        .limit(limit)
    ).all()
    return [(int(r.id), dict(r.segments or {})) for r in rows]


def due_ids(
    conn: sa.Connection, since: datetime, now: datetime, after_id: int, limit: int
) -> list[int]:
    """Contacts with an instant in (since, now], by row id after `after_id`: a range read
    on `due_at`'s index, whatever the number of contacts."""
    rows = conn.execute(
        sa.select(t.c.contact_id)
        .where(t.c.due_at > since, t.c.due_at <= now, t.c.contact_id > after_id)
        .distinct()
        .order_by(t.c.contact_id)
        .limit(limit)
    )
    return [int(r.contact_id) for r in rows]


def live_segments(
    conn: sa.Connection, ids: Sequence[int]
) -> list[tuple[int, CrmRef, dict[str, str]]]:
    """Which of these rows are live records with a number, with their segments, by row
    id: one query for a page of due contacts."""
    rows = conn.execute(
        sa.select(contacts.c.id, contacts.c.crm_object_type, contacts.c.crm_id, contacts.c.segments)
        .where(
            contacts.c.id.in_(list(ids)),
            contacts.c.deleted.is_(False),
            contacts.c.phone.is_not(None),
        )
        .order_by(contacts.c.id)
    ).all()
    return [(int(r.id), CrmRef(r.crm_object_type, r.crm_id), dict(r.segments or {})) for r in rows]


def live_count(conn: sa.Connection) -> int:
    """Live records with a number: the contacts the clock watches."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(contacts)
            .where(contacts.c.deleted.is_(False), contacts.c.phone.is_not(None))
        ).scalar_one()
    )


def size(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
