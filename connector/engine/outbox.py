"""Putting CRM writes into the outbox, including a second write to the same external id.

`crm_outbox.enqueue` keeps the first row of an external id, which is right for a replay
but not for an update (a delivery status on an activity already written, a raised task
priority). `put` merges the new fields into the existing row and makes it pending again;
when a writeback worker holds the row at that moment, its settle no longer matches
(`claims.finish` checks the holder), so the merged row is simply written once more. Both
are upserts by external id at the CRM, so nothing is duplicated."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from connector.domain.model import CrmWrite
from connector.store import crm_outbox
from connector.store.database import dumps
from connector.store.dialect import lock_row
from connector.store.tables import crm_outbox as t


def put(conn: sa.Connection, write: CrmWrite, now: datetime) -> bool:
    """Queue `write`, or fold it into the row already queued for its external id.

    Returns True when something new will be written."""
    if crm_outbox.enqueue(conn, write, now):
        return True
    row = conn.execute(
        lock_row(
            conn,
            sa.select(t.c.id, t.c.fields, t.c.state).where(t.c.external_id == write.external_id),
        )
    ).one()
    merged = {**dict(row.fields), **json.loads(dumps(write.fields))}
    if merged == dict(row.fields) and row.state in ("pending", "done"):
        return False  # nothing new: a replayed event
    values: dict[str, object] = {
        "fields": merged,
        "state": "pending",
        "claimed_by": None,
        "lease_until": None,
        "next_attempt_at": None,
        "done_at": None,
        "last_error": None,
    }
    if row.state in ("failed", "dead"):
        values["attempts"] = 0  # new content is a new write: its own tries, not a dead letter
    if write.owner_id is not None:
        values["owner_id"] = write.owner_id
    if write.due is not None:
        values["due"] = write.due
    conn.execute(sa.update(t).where(t.c.id == row.id).values(**values))
    return True
