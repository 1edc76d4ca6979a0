"""opportunities, opportunity_contacts, opportunity_stages: the CRM's pipeline as pulled.
A batch replaces what was stored for its opportunities (the CRM holds their whole contact
list and history), in the caller's transaction with the cursor that covers it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from connector.ports import PipelineBatch
from connector.store.dialect import insert
from connector.store.tables import opportunities as opp_t
from connector.store.tables import opportunity_contacts as links_t
from connector.store.tables import opportunity_stages as stages_t


def apply(conn: sa.Connection, batch: PipelineBatch, now: datetime) -> int:
    """Upsert the batch's opportunities and replace their links and history; returns how
    many opportunities it held."""
    ids = [o.ref.id for o in batch.opportunities]
    for o in batch.opportunities:
        values = {
            "stage": o.stage,
            "amount": o.amount,
            "owner_id": o.owner_id,
            "created_at": o.created,
            "close_date": o.close_date,
            "is_closed": o.is_closed,
            "is_won": o.is_won,
            "crm_modstamp": o.modstamp,
            "deleted": False,
            "updated_at": now,
        }
        stmt = insert(conn, opp_t).values(
            crm_object_type=o.ref.object_type, crm_id=o.ref.id, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["crm_object_type", "crm_id"], set_=values)
        )
    _replace(conn, ids, batch)
    return len(ids)


def _replace(conn: sa.Connection, ids: Sequence[str], batch: PipelineBatch) -> None:
    if not ids:
        return
    conn.execute(sa.delete(links_t).where(links_t.c.opportunity_id.in_(ids)))
    conn.execute(sa.delete(stages_t).where(stages_t.c.opportunity_id.in_(ids)))
    links = {(opp, c.object_type, c.id) for opp, c in batch.contacts}
    if links:
        conn.execute(
            sa.insert(links_t),
            [
                {"opportunity_id": o, "contact_type": t, "contact_id": i}
                for o, t, i in sorted(links)
            ],
        )
    stages = set(batch.stages)
    if stages:
        conn.execute(
            sa.insert(stages_t),
            [{"opportunity_id": o, "stage": s, "at": at} for o, s, at in sorted(stages)],
        )
