"""Putting CRM writes into the outbox, including a second write to the same external id.

`crm_outbox.enqueue` keeps the first row of an external id, which is right for a replay
but not for an update (a delivery status on an activity already written, a raised task
priority). `put` then folds the new fields into the existing row and makes it pending
again (`crm_outbox.fold_in`); when a writeback worker holds the row at that moment, its
settle no longer matches (`claims.finish` checks the holder), so the merged row is simply
written once more. Both are upserts by external id at the CRM, so nothing is duplicated."""

from __future__ import annotations

from datetime import datetime

from connector.domain.model import CrmWrite
from connector.ports import Connection
from connector.store import crm_outbox


def put(conn: Connection, write: CrmWrite, now: datetime) -> bool:
    """Queue `write`, or fold it into the row already queued for its external id.

    Returns True when something new will be written."""
    return crm_outbox.enqueue(conn, write, now) or crm_outbox.fold_in(conn, write)
