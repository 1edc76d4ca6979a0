"""rep_sends: a rep's texts from the CRM. The unique CRM id is the claim (a second pass or
replica inserting the same record inserts nothing), taken in the transaction that decides
and queues the text; the outcome written back on the CRM record is remembered, so it is
written once and rewritten only when it changes (queued for quiet hours, then sent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import CrmRef
from connector.store.dialect import insert_if_absent
from connector.store.tables import rep_sends as t


@dataclass(frozen=True, slots=True)
class RepSendRow:
    id: int
    crm_id: str
    contact: CrmRef | None
    owner_id: str | None
    outbox_key: str | None
    close_follow_up: bool
    result: str | None
    written: str | None
    done: bool


def claim(
    conn: sa.Connection,
    crm_id: str,
    *,
    contact: CrmRef | None,
    owner_id: str | None,
    close_follow_up: bool,
    now: datetime,
    worker_id: str,
) -> bool:
    """Claim the CRM record for this worker; False when it was claimed before."""
    values = {
        "crm_id": crm_id,
        "contact_type": contact.object_type if contact else None,
        "contact_id": contact.id if contact else None,
        "owner_id": owner_id,
        "close_follow_up": close_follow_up,
        "done": False,
        "claimed_at": now,
        "claimed_by": worker_id,
    }
    return insert_if_absent(conn, t, values, ["crm_id"])


def claimed(conn: sa.Connection, crm_ids: Iterable[str]) -> set[str]:
    """Which of these CRM ids are claimed already (the query sees them until written)."""
    ids = list(crm_ids)
    if not ids:
        return set()
    return set(conn.execute(sa.select(t.c.crm_id).where(t.c.crm_id.in_(ids))).scalars())


def release_refused(conn: sa.Connection, crm_ids: Iterable[str]) -> int:
    """Forget records whose claim queued nothing (bad input, blocked) and whose outcome is
    written: the rep fixed the record and asked again, a new request. A record that
    queued a text keeps its claim, so it is never sent twice."""
    ids = list(crm_ids)
    if not ids:
        return 0
    return conn.execute(
        sa.delete(t).where(
            t.c.crm_id.in_(ids), t.c.outbox_key.is_(None), t.c.settled_at.is_not(None)
        )
    ).rowcount


def queued(conn: sa.Connection, crm_id: str, outbox_key: str) -> None:
    conn.execute(sa.update(t).where(t.c.crm_id == crm_id).values(outbox_key=outbox_key))


def decided(conn: sa.Connection, crm_id: str, result: str) -> None:
    """Nothing was queued: the result is final at the claim (blocked, bad input)."""
    conn.execute(sa.update(t).where(t.c.crm_id == crm_id).values(result=result))


def by_key(conn: sa.Connection, outbox_key: str) -> RepSendRow | None:
    row = conn.execute(sa.select(t).where(t.c.outbox_key == outbox_key)).one_or_none()
    return None if row is None else _row(row)


def by_crm_id(conn: sa.Connection, crm_id: str) -> RepSendRow | None:
    row = conn.execute(sa.select(t).where(t.c.crm_id == crm_id)).one_or_none()
    return None if row is None else _row(row)


def unsettled(conn: sa.Connection, limit: int = 200) -> list[RepSendRow]:
    """Records whose final outcome is not on the CRM record yet, oldest first."""
    rows = conn.execute(
        sa.select(t).where(t.c.settled_at.is_(None)).order_by(t.c.id).limit(limit)
    ).all()
    return [_row(r) for r in rows]


def written(conn: sa.Connection, crm_id: str, result: str, *, done: bool, now: datetime) -> None:
    """The CRM record now says `result`; a `done` one is settled for good."""
    values: dict[str, Any] = {"written": result, "done": done}
    if done:
        values["settled_at"] = now
    conn.execute(sa.update(t).where(t.c.crm_id == crm_id).values(**values))


def count(conn: sa.Connection, *, result_prefix: str | None = None) -> int:
    """Rep texts claimed (with `result_prefix`: those whose written result starts so)."""
    stmt = sa.select(sa.func.count()).select_from(t)
    if result_prefix is not None:
        stmt = stmt.where(t.c.written.like(f"{result_prefix}%"))
    return int(conn.execute(stmt).scalar_one())


def _row(row: sa.Row[Any]) -> RepSendRow:
    contact = (
        CrmRef(row.contact_type, row.contact_id) if row.contact_type and row.contact_id else None
    )
    return RepSendRow(
        id=row.id,
        crm_id=row.crm_id,
        contact=contact,
        owner_id=row.owner_id,
        outbox_key=row.outbox_key,
        close_follow_up=row.close_follow_up,
        result=row.result,
        written=row.written,
        done=row.done,
    )
