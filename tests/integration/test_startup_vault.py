"""The vault `smsync run` checks HubSpot with before its database exists: it creates no
file, keeps a pair rotated meanwhile, and hands it to the store once that is migrated; on a
restart it reads the kept pair from the existing database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connector.ports import TokenPair
from connector.runtime.vault import StartupVault
from connector.store import SqlStore
from connector.store.oauth_tokens import StoreTokenVault
from tests.migrated import upgrade

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_a_pair_rotated_before_the_database_exists_is_kept_once_it_does(tmp_path: Path) -> None:
    db = tmp_path / "var" / "smsync.db"
    url = f"sqlite:///{db}"
    vault = StartupVault(url, "hubspot", lambda: NOON)
    assert vault.load() is None
    vault.save(TokenPair("access-1", "refresh-1"))
    assert vault.load() == TokenPair("access-1", "refresh-1")
    assert not db.parent.exists()  # nothing created before the migration
    upgrade(url)
    store = SqlStore.from_url(url)
    try:
        vault.attach(store)
        assert StoreTokenVault(store, "hubspot").load() == TokenPair("access-1", "refresh-1")
        vault.save(TokenPair("access-2", "refresh-2"))
        assert StoreTokenVault(store, "hubspot").load() == TokenPair("access-2", "refresh-2")
    finally:
        store.close()
    restarted = StartupVault(url, "hubspot", lambda: NOON)
    assert restarted.load() == TokenPair("access-2", "refresh-2")
    restarted.save(TokenPair("access-3", "refresh-3"))  # the database exists: written at once
    store = SqlStore.from_url(url)
    try:
        assert StoreTokenVault(store, "hubspot").load() == TokenPair("access-3", "refresh-3")
    finally:
        store.close()


def test_an_unmigrated_database_is_read_as_empty(tmp_path: Path) -> None:
    db = tmp_path / "smsync.db"
    db.touch()  # a file with no tables
    vault = StartupVault(f"sqlite:///{db}", "hubspot", lambda: NOON)
    assert vault.load() is None
    vault.save(TokenPair("a", "r"))
    assert vault.load() == TokenPair("a", "r")  # held until attach
