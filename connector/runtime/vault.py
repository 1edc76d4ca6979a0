"""The OAuth token vault of a process that checks its credentials before its database is
migrated (`smsync run`, `smsync sync --once`).

HubSpot rotates the refresh token on every refresh, so the pair a start-up check refreshes
must outlive the process, yet a configuration mistake must leave no database behind. This
vault reads the pair an earlier run kept from a database that already exists (creating
nothing), writes a new pair there at once when it can, and otherwise holds it until the
database is migrated and `attach(store)` hands it the store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog

from connector.ports import TokenPair
from connector.runtime.leases import sqlite_path
from connector.store import SqlStore
from connector.store.database import DatabaseError, is_memory_sqlite, normalise_url
from connector.store.oauth_tokens import StoreTokenVault

log = structlog.get_logger(__name__)


class StartupVault:
    """`TokenVault` over the store at `url`, usable before that store may be opened."""

    def __init__(self, url: str, provider: str, now: Callable[[], datetime]) -> None:
        self.url = url
        self.provider = provider
        self.now = now
        self._lock = threading.Lock()
        self._vault: StoreTokenVault | None = None
        self._pending: TokenPair | None = None

    def _existing(self) -> SqlStore | None:
        """The database at `url` if it already exists (opening it creates nothing)."""
        path = sqlite_path(self.url)
        if path is None and is_memory_sqlite(normalise_url(self.url)):
            return None  # a fresh in-memory database holds no earlier pair
        if path is not None and not path.exists():
            return None
        return SqlStore.from_url(self.url)

    def _with_existing(self, use: Callable[[StoreTokenVault], object]) -> bool:
        """Run `use` on the existing database's vault; False when there is none yet (no
        file, or not migrated as far as the oauth_tokens table)."""
        store = self._existing()
        if store is None:
            return False
        try:
            use(StoreTokenVault(store, self.provider, self.now))
        except DatabaseError:
            return False
        finally:
            store.close()
        return True

    def load(self) -> TokenPair | None:
        with self._lock:
            if self._vault is not None:
                return self._vault.load()
            found: list[TokenPair | None] = []
            if self._with_existing(lambda vault: found.append(vault.load())) and found[0]:
                return found[0]
            return self._pending

    def save(self, pair: TokenPair) -> None:
        with self._lock:
            if self._vault is not None:
                self._vault.save(pair)
            elif self._with_existing(lambda vault: vault.save(pair)):
                self._pending = None
            else:
                self._pending = pair  # written by `attach`, once the database exists

    def attach(self, store: SqlStore) -> None:
        """From now on the pair lives in `store`; one rotated before it existed goes in."""
        with self._lock:
            self._vault = StoreTokenVault(store, self.provider, self.now)
            if self._pending is not None:
                self._vault.save(self._pending)
                self._pending = None
                log.info("oauth.pair_persisted", provider=self.provider)
