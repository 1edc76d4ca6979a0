"""decision_log: what the governance chokepoint decided for each candidate send, and why
(``smsync explain``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from connector.domain.model import CrmRef, Decision, Verdict
from connector.store.dialect import insert_rows
from connector.store.records import DecisionEntry
from connector.store.tables import decision_log as t


def append(
    conn: sa.Connection,
    decision: Decision,
    at: datetime,
    *,
    contact: CrmRef | None = None,
    phone: str | None = None,
    play: str | None = None,
    details: Mapping[str, Any] | None = None,
    variant: str | None = None,
) -> int:
    """`details` must be JSON-serialisable and free of phone numbers (see
    ``connector.engine.decisions``)."""
    result = conn.execute(
        sa.insert(t)
        .values(
            contact_type=contact.object_type if contact else None,
            contact_id=contact.id if contact else None,
            phone=phone,
            verdict=decision.verdict.value,
            reasons=list(decision.reasons),
            play=play,
            variant=variant,
            send_at=decision.send_at,
            at=at,
            # None stays SQL NULL (not JSON null), like the rows logged before 0004
            details=sa.null() if details is None else dict(details),
        )
        .returning(t.c.id)
    )
    return int(result.scalar_one())


class Entry(NamedTuple):
    """One decision for `append_many`, with `append`'s arguments."""

    decision: Decision
    details: Mapping[str, Any]
    contact: CrmRef | None = None
    phone: str | None = None
    play: str | None = None
    variant: str | None = None


def append_many(conn: sa.Connection, entries: Sequence[Entry], at: datetime) -> None:
    """`append` of many decisions in one statement (`dialect.insert_rows`), in order: a
    page of planned contacts."""
    insert_rows(conn, t, [_values(e, at) for e in entries])


def _values(e: Entry, at: datetime) -> dict[str, Any]:
    return {
        "contact_type": e.contact.object_type if e.contact else None,
        "contact_id": e.contact.id if e.contact else None,
        "phone": e.phone,
        "verdict": e.decision.verdict.value,
        "reasons": list(e.decision.reasons),
        "play": e.play,
        "variant": e.variant,
        "send_at": e.decision.send_at,
        "at": at,
        "details": dict(e.details),
    }


def for_contact(conn: sa.Connection, contact: CrmRef, limit: int = 100) -> list[DecisionEntry]:
    """Newest first."""
    rows = conn.execute(
        sa.select(t)
        .where(t.c.contact_type == contact.object_type, t.c.contact_id == contact.id)
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(limit)
    ).all()
    return [_entry(row) for row in rows]


def blocked_reasons(conn: sa.Connection, since: datetime | None = None) -> dict[str, int]:
    """Blocked decisions per reason (a decision with two reasons counts for both)."""
    stmt = sa.select(t.c.reasons).where(t.c.verdict == Verdict.BLOCK.value)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    counts: dict[str, int] = {}
    for (reasons,) in conn.execute(stmt):
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def _entry(row: sa.Row[Any]) -> DecisionEntry:
    contact = (
        CrmRef(row.contact_type, row.contact_id)
        if row.contact_type is not None and row.contact_id is not None
        else None
    )
    return DecisionEntry(
        id=row.id,
        contact=contact,
        phone=row.phone,
        decision=Decision(
            verdict=Verdict(row.verdict), reasons=tuple(row.reasons), send_at=row.send_at
        ),
        play=row.play,
        at=row.at,
        details=row.details if isinstance(row.details, dict) else None,
    )


def contact_types(conn: sa.Connection, crm_id: str) -> list[str]:
    """The object types decisions were logged under for this CRM id."""
    kinds = conn.execute(
        sa.select(t.c.contact_type).where(t.c.contact_id == crm_id).distinct()
    ).scalars()
    return [kind for kind in kinds if kind is not None]
