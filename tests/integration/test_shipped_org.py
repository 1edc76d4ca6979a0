"""The shipped files fit the shipped sandbox: the speed-to-lead play, as shipped, fires on
a Salesforce Lead whose Status an admin sets to MQL (the picklist has the value), and the
users and queues the shipped mappings name are seeded with their ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from connector.domain.model import ContactState, CrmRef
from connector.engine.explain import explain
from connector.sandbox.server import Sandbox
from connector.store import contacts
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def world(sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    start = MORNING - timedelta(hours=1)
    with make_world("salesforce", sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING) as w:
        yield w


def _a_lead(world: World) -> ContactState:
    t = tb.contact_state
    with world.ctx.store.begin() as conn:
        ids = conn.execute(
            sa.select(t.c.crm_id).where(t.c.crm_object_type == "Lead").order_by(t.c.id)
        ).scalars()
        for crm_id in ids:
            state = contacts.get(conn, CrmRef("Lead", crm_id))
            if state is not None and state.phone and state.lifecycle_stage != "mql":
                return state
    raise AssertionError("no Lead with a phone in the seed")


def test_speed_to_lead_fires_on_a_lead_set_to_mql(world: World) -> None:
    lead = _a_lead(world)
    world.case.change_field("Lead", lead.ref.id, "Status", "MQL")  # a valid Lead Status
    world.pull()
    with world.ctx.store.begin() as conn:
        decided = [e.play for e in explain(conn, lead.ref.id).entries]
    assert "speed_to_lead" in decided


def test_the_shipped_mappings_ids_are_seeded(world: World) -> None:
    sf = world.case._sf()
    base = world.sandbox.urls["salesforce"]
    users = sf.get(
        f"{base}/services/data/v62.0/query",
        params={"q": "SELECT Id, IsActive FROM User WHERE Id LIKE '0050000000000%'"},
    ).json()["records"]
    active = {u["Id"]: u["IsActive"] for u in users}
    assert active["005000000000001AAA"] is True
    assert active["005000000000005AAA"] is False  # inactive_users: left the company
    queue = sf.get(f"{base}/services/data/v62.0/sobjects/Group/00G000000000001AAA").json()
    assert queue["Type"] == "Queue"
    task = sf.get(f"{base}/services/data/v62.0/sobjects/Task/describe").json()
    owner = next(f for f in task["fields"] if f["name"] == "OwnerId")
    assert "Group" in owner["referenceTo"]  # a queue can own the fallback tasks


def test_hubspot_roster_owners_and_archived_ones(sandbox: Sandbox, tmp_path: Path) -> None:
    start = MORNING - timedelta(hours=1)
    with make_world("hubspot", sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING):
        base = sandbox.urls["hubspot"]
        auth = {"Authorization": f"Bearer {sandbox.credentials.hubspot_token}"}
        ok = requests.get(f"{base}/crm/v3/owners/1000001", headers=auth, timeout=10)
        assert ok.status_code == 200
        assert ok.json()["teams"][0]["name"] == "Central"
        gone = requests.get(f"{base}/crm/v3/owners/1000005", headers=auth, timeout=10)
        assert gone.status_code == 404
        archived = requests.get(
            f"{base}/crm/v3/owners/1000005", params={"archived": "true"}, headers=auth, timeout=10
        )
        assert archived.json()["archived"] is True
