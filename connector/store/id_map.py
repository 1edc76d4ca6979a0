"""crm_id_map: the durable `ports.IdMap`, so an external id written by create is never
created twice, not even across restarts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from connector.ports import Store
from connector.store.dialect import insert
from connector.store.tables import crm_id_map as t

_CHUNK = 500  # stay well under SQLite's bound-parameter limit


class StoreIdMap:
    """`ports.IdMap` over the store; each call is its own short transaction, committed
    before the adapter's next HTTP call, so a crash never forgets a sent create."""

    def __init__(self, store: Store, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.now = now or (lambda: datetime.now(UTC))

    def get_many(self, external_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ids = list(dict.fromkeys(external_ids))
        with self.store.begin() as conn:
            for i in range(0, len(ids), _CHUNK):
                rows = conn.execute(
                    sa.select(t.c.external_id, t.c.crm_id).where(
                        t.c.external_id.in_(ids[i : i + _CHUNK])
                    )
                )
                found.update({str(ext): str(crm_id) for ext, crm_id in rows})
        return found

    def put_many(self, pairs: dict[str, str]) -> None:
        if not pairs:
            return
        now = self.now()
        rows = [{"external_id": k, "crm_id": v, "updated_at": now} for k, v in pairs.items()]
        with self.store.begin() as conn:
            for i in range(0, len(rows), _CHUNK):
                stmt = insert(conn, t).values(rows[i : i + _CHUNK])
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["external_id"],
                        set_={
                            "crm_id": stmt.excluded.crm_id,
                            "updated_at": stmt.excluded.updated_at,
                        },
                    )
                )
