"""oauth_tokens: where a rotated OAuth pair survives a restart (HubSpot's refresh tokens
rotate; the old one stops working once the new one is issued)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from connector.ports import Store, TokenPair
from connector.store.dialect import insert
from connector.store.tables import oauth_tokens as t


class StoreTokenVault:
    """`TokenVault` for one provider over the store."""

    def __init__(
        self, store: Store, provider: str, now: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.provider = provider
        self.now = now or (lambda: datetime.now(UTC))

    def load(self) -> TokenPair | None:
        with self.store.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.provider == self.provider)).one_or_none()
        return None if row is None else TokenPair(row.access_token, row.refresh_token)

    def save(self, pair: TokenPair) -> None:
        values = {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "updated_at": self.now(),
        }
        with self.store.begin() as conn:
            stmt = insert(conn, t).values(provider=self.provider, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["provider"], set_=values))
