"""sla_timers: response-time promises per contact; at most one open timer per contact and
kind (a partial unique index), so a second reply does not restart the clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef, SlaKind, SlaTimer
from connector.store.dialect import insert
from connector.store.records import SlaEntry
from connector.store.tables import sla_timers as t

_OPEN = sa.and_(t.c.met.is_(None), t.c.breached.is_(None))


def start(
    conn: sa.Connection,
    contact: CrmRef,
    kind: SlaKind,
    *,
    started: datetime,
    due: datetime,
    source_sid: str | None = None,
) -> SlaEntry:
    """Open a timer, or return the one already open for this contact and kind."""
    stmt = insert(conn, t).values(
        contact_type=contact.object_type,
        contact_id=contact.id,
        kind=kind.value,
        started=started,
        due=due,
        source_sid=source_sid,
    )
    conn.execute(stmt.on_conflict_do_nothing())
    entry = _open(conn, contact, kind)
    assert entry is not None
    return entry


def meet(conn: sa.Connection, contact: CrmRef, kind: SlaKind, at: datetime) -> SlaEntry | None:
    """Close the open timer as met; None when there was none."""
    entry = _open(conn, contact, kind)
    if entry is None:
        return None
    conn.execute(sa.update(t).where(t.c.id == entry.id, _OPEN).values(met=at))
    return get(conn, entry.id)


def breach(conn: sa.Connection, timer_id: int, at: datetime) -> bool:
    """Mark an open timer breached; False if it was met or breached meanwhile."""
    return (
        conn.execute(sa.update(t).where(t.c.id == timer_id, _OPEN).values(breached=at)).rowcount
        == 1
    )


def escalate(conn: sa.Connection, timer_id: int, at: datetime) -> bool:
    """Record that a breach was escalated; once only."""
    result = conn.execute(
        sa.update(t)
        .where(t.c.id == timer_id, t.c.breached.is_not(None), t.c.escalated.is_(None))
        .values(escalated=at)
    )
    return result.rowcount == 1


def due(conn: sa.Connection, now: datetime, limit: int = 500) -> list[SlaEntry]:
    """Open timers past their due time, most overdue first."""
    rows = conn.execute(
        sa.select(t).where(_OPEN, t.c.due <= now).order_by(t.c.due, t.c.id).limit(limit)
    ).all()
    return [_entry(row) for row in rows]


def unescalated(conn: sa.Connection, limit: int = 500) -> list[SlaEntry]:
    """Breached timers whose escalation has not been written yet."""
    rows = conn.execute(
        sa.select(t)
        .where(t.c.breached.is_not(None), t.c.escalated.is_(None))
        .order_by(t.c.breached, t.c.id)
        .limit(limit)
    ).all()
    return [_entry(row) for row in rows]


def for_contact(conn: sa.Connection, contact: CrmRef) -> list[SlaEntry]:
    rows = conn.execute(
        sa.select(t)
        .where(t.c.contact_type == contact.object_type, t.c.contact_id == contact.id)
        .order_by(t.c.started, t.c.id)
    ).all()
    return [_entry(row) for row in rows]


def latest(conn: sa.Connection, contact: CrmRef) -> SlaEntry | None:
    """The record's most recent timer, of any kind and state (what its fields show)."""
    row = conn.execute(
        sa.select(t)
        .where(t.c.contact_type == contact.object_type, t.c.contact_id == contact.id)
        .order_by(t.c.started.desc(), t.c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else _entry(row)


def open_timer(conn: sa.Connection, contact: CrmRef) -> SlaEntry | None:
    """The open timer due soonest, of any kind."""
    row = conn.execute(
        _OPEN_TIMER, {"object_type": contact.object_type, "id": contact.id}
    ).one_or_none()
    return None if row is None else _entry(row)


_OPEN_TIMER = (
    sa.select(t)
    .where(
        t.c.contact_type == sa.bindparam("object_type"),
        t.c.contact_id == sa.bindparam("id"),
        _OPEN,
    )
    .order_by(t.c.due, t.c.id)
    .limit(1)
)


def open_timers_of(conn: sa.Connection, refs: Sequence[CrmRef]) -> dict[CrmRef, SlaEntry]:
    """`open_timer` of many records in one query per object type (a pull's batch)."""
    found: dict[CrmRef, SlaEntry] = {}
    for object_type, ids in _ids_by_type(refs).items():
        rows = conn.execute(
            _OPEN_OF, {"object_type": object_type, "ids": ids}
        ).all()  # soonest first: the first row of each record wins
        for row in rows:
            entry = _entry(row)
            found.setdefault(entry.contact, entry)
    return found


def _ids_by_type(refs: Sequence[CrmRef]) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref.id)
    return by_type


_OPEN_OF = (
    sa.select(t)
    .where(
        t.c.contact_type == sa.bindparam("object_type"),
        t.c.contact_id.in_(sa.bindparam("ids", expanding=True)),
        _OPEN,
    )
    .order_by(t.c.due, t.c.id)
)


def get(conn: sa.Connection, timer_id: int) -> SlaEntry | None:
    row = conn.execute(sa.select(t).where(t.c.id == timer_id)).one_or_none()
    return None if row is None else _entry(row)


def _open(conn: sa.Connection, contact: CrmRef, kind: SlaKind) -> SlaEntry | None:
    row = conn.execute(
        sa.select(t).where(
            t.c.contact_type == contact.object_type,
            t.c.contact_id == contact.id,
            t.c.kind == kind.value,
            _OPEN,
        )
    ).one_or_none()
    return None if row is None else _entry(row)


def _entry(row: sa.Row[Any]) -> SlaEntry:
    return SlaEntry(
        id=row.id,
        contact=CrmRef(row.contact_type, row.contact_id),
        timer=SlaTimer(
            kind=SlaKind(row.kind),
            started=row.started,
            due=row.due,
            met=row.met,
            breached=row.breached,
            escalated=row.escalated,
        ),
        source_sid=row.source_sid,
    )


def open_timers(conn: sa.Connection, limit: int = 1000) -> list[SlaEntry]:
    """Timers neither met nor breached, due soonest first."""
    rows = conn.execute(sa.select(t).where(_OPEN).order_by(t.c.due).limit(limit)).all()
    return [_entry(row) for row in rows]


def unanswered_breaches(conn: sa.Connection, limit: int = 1000) -> list[SlaEntry]:
    """Breached timers nobody met, oldest breach first."""
    rows = conn.execute(
        sa.select(t)
        .where(t.c.breached.is_not(None), t.c.met.is_(None))
        .order_by(t.c.breached, t.c.id)
        .limit(limit)
    ).all()
    return [_entry(row) for row in rows]


def outcome_counts(conn: sa.Connection) -> tuple[int, int]:
    """(met by their due time, missed: breached, or met only after the due time)."""
    on_time = conn.execute(
        sa.select(sa.func.count()).where(t.c.met.is_not(None), t.c.met <= t.c.due)
    ).scalar_one()
    missed = conn.execute(
        sa.select(sa.func.count()).where(
            sa.or_(t.c.breached.is_not(None), sa.and_(t.c.met.is_not(None), t.c.met > t.c.due))
        )
    ).scalar_one()
    return int(on_time), int(missed)
