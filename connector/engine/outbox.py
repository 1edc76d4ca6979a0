"""Putting CRM writes into the outbox, including a second write to the same external id.

`crm_outbox.enqueue` keeps the first row of an external id, which is right for a replay
but not for an update (a delivery status on an activity already written, a raised task
priority). `put` then folds the new fields into the existing row and makes it pending
again (`crm_outbox.fold_in`); when a writeback worker holds the row at that moment, its
settle no longer matches (`claims.finish` checks the holder), so the merged row is simply
written once more. Both are upserts by external id at the CRM, so nothing is duplicated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.domain.model import CrmWrite
from connector.ports import Connection
from connector.store import crm_outbox


def put(conn: Connection, write: CrmWrite, now: datetime) -> bool:
    """Queue `write`, or fold it into the row already queued for its external id.

    Returns True when something new will be written."""
    return bool(put_many(conn, [write], now))


def put_many(conn: Connection, writes: Sequence[CrmWrite], now: datetime) -> int:
    """`put` of many writes in order, the new ones inserted a few hundred a statement (a
    pull's consent writes): each write whose external id is already queued, by an earlier
    transaction or earlier in `writes`, is folded in as `put` would. Returns how many
    will write something new."""
    firsts: dict[str, CrmWrite] = {}
    for write in writes:
        firsts.setdefault(write.external_id, write)
    inserted = crm_outbox.enqueue_many(conn, list(firsts.values()), now)
    changed = len(inserted)
    pending_first = set(inserted)  # the first write of each of these is the row inserted
    for write in writes:
        if write.external_id in pending_first:
            pending_first.discard(write.external_id)
        else:
            changed += int(crm_outbox.fold_in(conn, write))
    return changed
