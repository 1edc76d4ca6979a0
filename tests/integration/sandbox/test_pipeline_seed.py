"""Seeded deals: deterministic by seed, off unless asked, the same deals in both CRM
emulators (as Opportunities with contact roles, as deals with contact associations), and
asking for them leaves every other seeded value as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connector.sandbox.hubspot.deal_seeding import DEAL_STAGE as HUBSPOT_STAGE
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.salesforce.seeding import DEAL_STAGE as SALESFORCE_STAGE
from connector.sandbox.seed import DEAL_LOST, DEAL_STAGES, DEAL_WON, generate
from connector.sandbox.server import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot")) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    requests.post(f"{sandbox.urls['admin']}/__sandbox/reset", json={}, timeout=10)
    return sandbox


def _seed(sb: Sandbox, **body: object) -> requests.Response:
    return requests.post(f"{sb.urls['admin']}/__sandbox/seed", json=body, timeout=30)


def test_deals_are_deterministic_and_leave_the_rest_of_the_seed_alone() -> None:
    plain = generate(400, seed=11)
    with_deals = generate(400, seed=11, deal_share=0.4)
    assert plain.deals == []
    assert with_deals.contacts == plain.contacts
    assert with_deals.owners == plain.owners
    assert with_deals.deals == generate(400, seed=11, deal_share=0.4).deals
    assert with_deals.deals != generate(400, seed=12, deal_share=0.4).deals
    kinds = {c.key: c.kind for c in plain.contacts}
    owners = {c.key: c.owner for c in plain.contacts}
    assert 40 <= len(with_deals.deals) <= 120  # about 0.4 of the 200 Contacts
    for deal in with_deals.deals:
        assert {kinds[k] for k in deal.contacts} == {"contact"}
        assert deal.owner == owners[deal.contacts[0]]
        stages = [s for s, _ in deal.stages]
        assert stages[0] == DEAL_STAGES[0]
        open_part = [s for s in stages if s in DEAL_STAGES]
        assert open_part == list(DEAL_STAGES[: len(open_part)])  # forward, one at a time
        assert stages[len(open_part) :] in ([], [DEAL_WON], [DEAL_LOST])
        minutes_ago = [ago for _, ago in deal.stages]
        assert minutes_ago == sorted(minutes_ago, reverse=True)
        assert minutes_ago[-1] >= 60
        assert (deal.close_in_days <= 0) == (deal.stage in {DEAL_WON, DEAL_LOST})
    with pytest.raises(ValueError, match="deal_share"):
        generate(10, deal_share=1.5)


def test_seeding_without_deals_creates_no_pipeline_records(sb: Sandbox) -> None:
    created = _seed(sb, contacts=40, seed=3).json()["created"]
    assert created["salesforce"] == {"User": 8, "Lead": 20, "Contact": 20}
    assert created["hubspot"] == {"owners": 8, "contacts": 40}
    salesforce = sb.emulators["salesforce"]
    hubspot = sb.emulators["hubspot"]
    assert isinstance(salesforce, SalesforceEmulator)
    assert isinstance(hubspot, HubSpotEmulator)
    for name in ("Opportunity", "OpportunityContactRole", "OpportunityHistory"):
        assert salesforce.store.rows(name) == {}
    assert len(salesforce.store.rows("OpportunityStage")) == 10  # org metadata, always there
    assert hubspot.portal.stores["deals"].records == {}
    assert _seed(sb, contacts=5, deal_share=2).status_code == 400
    assert _seed(sb, contacts=5, deal_share="most").status_code == 400


def test_both_crms_load_the_same_deals(sb: Sandbox) -> None:
    data = generate(120, seed=5, deal_share=0.5)
    response = _seed(sb, contacts=120, seed=5, deal_share=0.5)
    assert response.status_code == 200
    created = response.json()["created"]
    assert created["salesforce"]["Opportunity"] == created["hubspot"]["deals"] == len(data.deals)
    assert created["salesforce"]["OpportunityContactRole"] == sum(
        len(d.contacts) for d in data.deals
    )

    salesforce = sb.emulators["salesforce"]
    hubspot = sb.emulators["hubspot"]
    assert isinstance(salesforce, SalesforceEmulator)
    assert isinstance(hubspot, HubSpotEmulator)
    by_name = {d.name: d for d in data.deals}
    opportunities = salesforce.store.rows("Opportunity").values()
    assert {o["Name"]: o["StageName"] for o in opportunities} == {
        name: SALESFORCE_STAGE[d.stage] for name, d in by_name.items()
    }
    deals = hubspot.portal.stores["deals"].records.values()
    assert {d.props["dealname"]: d.props["dealstage"] for d in deals} == {
        name: HUBSPOT_STAGE[d.stage] for name, d in by_name.items()
    }
    for deal in deals:
        seeded = by_name[deal.props["dealname"]]
        linked = hubspot.portal.associations.of("deals", deal.id, "contacts")
        assert len(linked) == len(seeded.contacts)
        assert [v[0] for v in deal.versions("dealstage")] == [
            HUBSPOT_STAGE[s] for s, _ in seeded.stages
        ]
    salesforce_history = salesforce.store.rows("OpportunityHistory")
    assert len(salesforce_history) == sum(len(d.stages) for d in data.deals)

    again = _seed(sb, contacts=120, seed=5, deal_share=0.5).json()["created"]
    assert again["hubspot"]["deals"] == 0  # HubSpot seeding skips what it already holds
