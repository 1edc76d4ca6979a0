"""consent_ledger: append-only and keyed by phone, so every record sharing a number shares
its consent. The database refuses UPDATE and DELETE on it (migration 0001's triggers), and
each row is hash-chained to the one before it (`consent_chain`), so a row changed around
the store is detected by `smsync consent verify`. An entry's `purpose` (migration 0008)
is NULL when it holds for every purpose."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import ConsentRecord, ConsentScope, ConsentSource, ConsentStatus
from connector.store import consent_chain
from connector.store.dialect import insert_if_absent
from connector.store.tables import consent_ledger as t


def append(conn: sa.Connection, record: ConsentRecord, now: datetime) -> bool:
    """Record one consent event. Returns False when the same evidence (phone, source,
    evidence sid) is already in the ledger: a replayed STOP is one entry."""
    return insert_if_absent(conn, t, consent_chain.chained(conn, t, _values(record, now)))


def append_many(conn: sa.Connection, records: Sequence[ConsentRecord], now: datetime) -> None:
    """Record many consent events without evidence (a pull's CRM fields) in order, chained
    with one read of the head and inserted by one executemany. Entries without an evidence
    sid never collide in the ledger's unique key (NULLs are distinct), so each is a row."""
    if not records:
        return
    if any(record.evidence_sid is not None for record in records):
        raise ValueError("append_many takes entries without evidence; use append for those")
    rows = [_values(record, now) for record in records]
    conn.execute(sa.insert(t), consent_chain.chained_many(conn, t, rows))


def _values(record: ConsentRecord, now: datetime) -> dict[str, Any]:
    return {
        "phone": record.phone,
        "status": record.status.value,
        "scope": record.scope.value,
        "source": record.source.value,
        "evidence_sid": record.evidence_sid,
        "evidence_text": record.evidence_text,
        "purpose": record.purpose,
        "at": record.at,
        "recorded_at": now,
    }


def latest(
    conn: sa.Connection, phone: str, scope: ConsentScope | None = None
) -> ConsentRecord | None:
    """The entry in force for the number: latest by event time, then by insertion."""
    stmt = sa.select(t).where(t.c.phone == phone)
    if scope is not None:
        stmt = stmt.where(t.c.scope == scope.value)
    row = conn.execute(stmt.order_by(t.c.at.desc(), t.c.id.desc()).limit(1)).one_or_none()
    return None if row is None else _record(row)


def status(conn: sa.Connection, phone: str, scope: ConsentScope | None = None) -> ConsentStatus:
    record = latest(conn, phone, scope)
    return ConsentStatus.UNKNOWN if record is None else record.status


def history(conn: sa.Connection, phone: str) -> list[ConsentRecord]:
    rows = conn.execute(_HISTORY, {"phone": phone}).all()
    return [_record(row) for row in rows]


# built once: a pull asks for many numbers' ledgers, and building a statement costs more
# than running it
_HISTORY = sa.select(t).where(t.c.phone == sa.bindparam("phone")).order_by(t.c.at, t.c.id)


def histories(conn: sa.Connection, phones: Iterable[str]) -> dict[str, list[ConsentRecord]]:
    """`history` of many numbers in one query (a pull's batch); a number with no entry
    is absent."""
    wanted = sorted(set(phones))
    found: dict[str, list[ConsentRecord]] = {}
    if not wanted:
        return found
    rows = conn.execute(_HISTORIES, {"phones": wanted}).all()
    for row in rows:
        found.setdefault(row.phone, []).append(_record(row))
    return found


_HISTORIES = (
    sa.select(t)
    .where(t.c.phone.in_(sa.bindparam("phones", expanding=True)))
    .order_by(t.c.phone, t.c.at, t.c.id)
)


def _record(row: sa.Row[Any]) -> ConsentRecord:
    return ConsentRecord(
        phone=row.phone,
        status=ConsentStatus(row.status),
        scope=ConsentScope(row.scope),
        source=ConsentSource(row.source),
        at=row.at,
        evidence_sid=row.evidence_sid,
        evidence_text=row.evidence_text,
        purpose=row.purpose,
    )
