"""The durable id map and token vault (migration 0002), on SQLite and Postgres, and the
HubSpot adapter in local_map mode across a restart: a new process with the same store
never creates a record twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.ports import TokenPair
from connector.sandbox.server import Sandbox
from connector.store import SqlStore
from connector.store.id_map import StoreIdMap
from connector.store.oauth_tokens import StoreTokenVault
from tests.integration.hubspot_kit import activity, fresh_account, task


def test_id_map_round_trip_and_overwrite(store: SqlStore) -> None:
    ids = StoreIdMap(store)
    assert ids.get_many(["a", "b"]) == {}
    ids.put_many({"a": "", "b": "200"})  # "" = create sent, outcome unknown
    ids.put_many({"a": "100"})
    assert ids.get_many(["a", "b", "c"]) == {"a": "100", "b": "200"}
    many = {f"sms:{i}": str(i) for i in range(1_200)}  # more than one chunk
    ids.put_many(many)
    assert ids.get_many(list(many)) == many


def test_token_vault_keeps_the_rotated_pair(store: SqlStore) -> None:
    vault = StoreTokenVault(store, "hubspot")
    assert vault.load() is None
    vault.save(TokenPair("access-1", "refresh-1"))
    vault.save(TokenPair("access-2", "refresh-2"))
    assert StoreTokenVault(store, "hubspot").load() == TokenPair("access-2", "refresh-2")
    assert StoreTokenVault(store, "other").load() is None


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(vendors=("hubspot",)) as sandbox:
        yield sandbox


def test_local_map_restart_never_duplicates(sb: Sandbox, store: SqlStore) -> None:
    account = fresh_account(sb)
    account.emulator.refuse_engagement_unique()  # the account allows no unique property
    writes = [*(activity(i, target=i % 10) for i in range(120)), *(task(i) for i in range(30))]
    first = account.adapter("local_map", id_map=StoreIdMap(store)).write(writes)
    assert all(r.ok and r.created for r in first)
    # a new process: nothing in memory, only the store
    second = account.adapter("local_map", id_map=StoreIdMap(store)).write(writes)
    assert all(r.ok for r in second)
    assert not any(r.created for r in second)
    for w in writes:
        obj = "communications" if w.kind == "activity" else "tasks"
        assert account.count(obj, w.external_id) == 1
