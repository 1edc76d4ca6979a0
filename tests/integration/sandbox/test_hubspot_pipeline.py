"""HubSpot deals driven by hubspot-api-client 12, unmodified, over real HTTP: the pipelines
API, dealstage history (`propertiesWithHistory`) on single, list and batch reads, deal to
contact associations through v4, search on deals, and the limits and faults around them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationApiException
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4 import PublicFetchAssociationsBatchRequest as FetchRequest
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.pipelines import ApiException as PipelineApiException

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.seed import SeedData, generate
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.hubspot_fixtures import FROZEN_AT, admin, body_of, client, hs, sb

__all__ = ["hs", "sb"]  # pytest fixtures

STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]


def _data() -> SeedData:
    return generate(300, seed=6, deal_share=0.8)


@pytest.fixture
def api(sb: Sandbox, hs: HubSpotEmulator) -> HubSpot:
    return client(sb)


def _seed(hs: HubSpotEmulator) -> int:
    data = _data()
    seeded = hs.seed(data)
    assert seeded["deals"] == len(data.deals)
    return len(data.deals)


def _deal(api: HubSpot, **props: str) -> str:
    base = {"dealname": "Acme renewal", "dealstage": "appointmentscheduled", "amount": "1500"}
    return str(
        api.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(properties={**base, **props})
        ).id
    )


def test_pipelines_api_serves_the_default_sales_pipeline(api: HubSpot) -> None:
    pipelines = api.crm.pipelines.pipelines_api.get_all("deals").results
    assert [(p.id, p.label) for p in pipelines] == [("default", "Sales Pipeline")]
    stages = pipelines[0].stages
    assert [s.id for s in stages] == STAGES
    assert [s.display_order for s in stages] == list(range(7))
    assert stages[0].metadata == {"isClosed": "false", "probability": "0.2"}
    closed = {s.id: s.metadata["probability"] for s in stages if s.metadata["isClosed"] == "true"}
    assert closed == {"closedwon": "1.0", "closedlost": "0.0"}
    assert stages[3].label == "Decision Maker Bought-In"
    one = api.crm.pipelines.pipelines_api.get_by_id("deals", "default")
    assert one.id == "default"
    stage = api.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "contractsent")
    assert (stage.label, stage.metadata["probability"]) == ("Contract Sent", "0.9")
    with pytest.raises(PipelineApiException) as missing:
        api.crm.pipelines.pipelines_api.get_by_id("deals", "enterprise")
    assert missing.value.status == 404
    with pytest.raises(PipelineApiException) as no_pipelines:
        api.crm.pipelines.pipelines_api.get_all("contacts")
    assert no_pipelines.value.status == 400

    dealstage = api.crm.properties.core_api.get_by_name("deals", "dealstage")
    assert [o.value for o in dealstage.options] == STAGES
    assert (dealstage.type, dealstage.field_type) == ("enumeration", "radio")
    names = {p.name: p for p in api.crm.properties.core_api.get_all("deals").results}
    assert {"dealname", "amount", "closedate", "pipeline", "hubspot_owner_id"} <= set(names)
    assert names["hs_is_closed_won"].modification_metadata.read_only_value is True
    assert names["hs_lastmodifieddate"].type == "datetime"


def test_stage_changes_are_history_stamped_with_the_sandbox_clock(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    deal_id = _deal(api)
    created = api.crm.deals.basic_api.get_by_id(deal_id, properties=["pipeline", "hs_is_closed"])
    assert created.properties["pipeline"] == "default"
    assert created.properties["hs_is_closed"] == "false"
    hs.state.clock.advance(3600)
    api.crm.deals.basic_api.update(deal_id, SimplePublicObjectInput(properties={"amount": "900"}))
    hs.state.clock.advance(3600)
    api.crm.deals.basic_api.update(
        deal_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )

    got = api.crm.deals.basic_api.get_by_id(
        deal_id, properties=["hs_is_closed_won"], properties_with_history=["dealstage", "nope"]
    )
    assert got.properties["dealstage"] == "closedwon"  # asked with history, so returned too
    assert got.properties["hs_is_closed_won"] == "true"
    assert set(got.properties_with_history) == {"dealstage"}  # unknown names are ignored
    history = got.properties_with_history["dealstage"]
    assert [(v.value, v.timestamp) for v in history] == [
        ("closedwon", FROZEN_AT + timedelta(hours=2)),
        ("appointmentscheduled", FROZEN_AT),
    ]
    assert {(v.source_type, v.source_id) for v in history} == {("INTEGRATION", "2900001")}
    assert got.updated_at == FROZEN_AT + timedelta(hours=2)

    for properties, error in (
        ({"dealstage": "won"}, "INVALID_OPTION"),
        ({"hs_is_closed": "true"}, "READ_ONLY_VALUE"),
        ({"amount": "lots"}, "INVALID_INTEGER"),
    ):
        with pytest.raises(ApiException) as caught:
            api.crm.deals.basic_api.update(deal_id, SimplePublicObjectInput(properties=properties))
        assert caught.value.status == 400
        assert error in body_of(caught.value)["message"]
    with pytest.raises(ApiException) as nameless:
        api.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"dealstage": "appointmentscheduled"})
        )
    assert "REQUIRED_PROPERTY" in body_of(nameless.value)["message"]


def test_seeded_deals_read_with_history_and_their_contacts_through_v4(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    total = _seed(hs)
    owners = {o.id: o.user_id for o in api.crm.owners.owners_api.get_page(limit=100).results}

    ids: list[str] = []
    after: str | None = None
    while True:
        page = api.crm.deals.basic_api.get_page(
            limit=50,
            after=after,
            properties=["hubspot_owner_id"],
            properties_with_history=["dealstage"],
        )
        for deal in page.results:
            ids.append(deal.id)
            history = deal.properties_with_history["dealstage"]
            assert history[0].value == deal.properties["dealstage"]  # newest first
            assert [v.timestamp for v in history] == sorted(
                (v.timestamp for v in history), reverse=True
            )
            assert history[-1].timestamp == deal.created_at
            user = owners[deal.properties["hubspot_owner_id"]]
            assert {(v.source_type, v.updated_by_user_id) for v in history} == {("CRM_UI", user)}
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(ids) == total > 100

    batch = api.crm.deals.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids[:50]],
            properties=["amount"],
            properties_with_history=["dealstage"],
        )
    )
    assert len(batch.results) == 50
    assert all(r.properties_with_history["dealstage"] for r in batch.results)
    assert all(set(r.properties) >= {"amount", "dealstage"} for r in batch.results)

    links = api.crm.associations.v4.batch_api.get_page(
        "deals",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[FetchRequest(id=i) for i in ids]),
    )
    assert len(links.results) == total
    contacts = set()
    for result in links.results:
        assert result.to
        for to in result.to:
            assert [t.type_id for t in to.association_types] == [3]
            assert to.association_types[0].category == "HUBSPOT_DEFINED"
            contacts.add(str(to.to_object_id))
    back = api.crm.associations.v4.batch_api.get_page(
        "contacts",
        "deals",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[FetchRequest(id=c) for c in sorted(contacts)]
        ),
    )
    assert {t.association_types[0].type_id for r in back.results for t in r.to} == {4}
    assert {str(t.to_object_id) for r in back.results for t in r.to} == set(ids)


def test_search_pages_deals_by_last_modified(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    total = _seed(hs)
    since = FROZEN_AT - timedelta(days=14)
    expected = sum(1 for d in _data().deals if d.stages[-1][1] <= 14 * 24 * 60)

    def request(after: str | None) -> PublicObjectSearchRequest:
        return PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(
                            property_name="hs_lastmodifieddate",
                            operator="GTE",
                            value=str(int(since.timestamp() * 1000)),
                        )
                    ]
                )
            ],
            sorts=["hs_object_id"],
            properties=["dealstage", "hs_lastmodifieddate"],
            limit=20,
            after=after,
        )

    seen: list[str] = []
    after: str | None = None
    while True:
        page = api.crm.deals.search_api.do_search(public_object_search_request=request(after))
        assert page.total == expected < total
        seen.extend(r.id for r in page.results)
        sb.state.clock.advance(1)  # stay under the 5 searches/s limit
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == expected
    with pytest.raises(ApiException) as capped:
        api.crm.deals.search_api.do_search(public_object_search_request=request("10000"))
    assert capped.value.status == 400
    assert body_of(capped.value)["category"] == "VALIDATION_ERROR"


def test_history_reads_and_association_batches_have_hubspots_caps(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    ids = [_deal(api, dealname=f"Deal {i}") for i in range(3)]
    with pytest.raises(ApiException) as listed:
        api.crm.deals.basic_api.get_page(limit=51, properties_with_history=["dealstage"])
    assert listed.value.status == 400
    assert api.crm.deals.basic_api.get_page(limit=51).results  # without history, 100 is fine
    with pytest.raises(ApiException) as batch:
        api.crm.deals.batch_api.read(
            BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(400_001 + i)) for i in range(51)],
                properties=[],
                properties_with_history=["dealstage"],
            )
        )
    assert batch.value.status == 400
    assert "50" in body_of(batch.value)["message"]
    with pytest.raises(AssociationApiException) as too_many:
        api.crm.associations.v4.batch_api.get_page(
            "deals",
            "contacts",
            BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[FetchRequest(id=str(i)) for i in range(1001)]
            ),
        )
    assert too_many.value.status == 400
    lonely = api.crm.associations.v4.batch_api.get_page(
        "deals",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[FetchRequest(id=i) for i in ids]),
    )
    assert lonely.results == []
    assert lonely.num_errors == 3


def test_faults_and_stats_cover_deals_and_pipelines(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    ids = [_deal(api, dealname=f"Deal {i}") for i in range(2)]
    contact = api.crm.contacts.basic_api.create(
        ContactInput(properties={"email": "buyer@example.org"})
    )
    api.crm.associations.v4.basic_api.create_default("deals", ids[0], "contacts", contact.id)
    linked = api.crm.deals.basic_api.get_by_id(ids[0], associations=["contacts"])
    assert linked.associations["contacts"].results[0].id == contact.id
    assert linked.associations["contacts"].results[0].type == "deal_to_contact"

    admin(
        sb,
        "POST",
        "/faults/hubspot",
        {
            "throttle": {"count": 1, "retry_after": 2},
            "record_errors": {ids[1]: {"code": "CONFLICT", "message": "locked", "status": 409}},
        },
    )
    with pytest.raises(PipelineApiException) as storm:
        api.crm.pipelines.pipelines_api.get_all("deals")
    assert storm.value.status == 429
    assert body_of(storm.value)["policyName"] == "TEN_SECONDLY_ROLLING"
    moved = api.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=i, properties={"dealstage": "closedlost"})
                for i in ids
            ]
        )
    )
    assert [r.id for r in moved.results] == [ids[0]]
    assert moved.errors[0].category == "CONFLICT"

    stats = sb.state.stats.snapshot()["hubspot"]
    calls = stats["calls_by_endpoint"]
    assert calls["GET /crm/v3/pipelines/deals"] == 1
    assert calls["POST /crm/v3/objects/deals"] == 2
    assert calls["POST /crm/v3/objects/deals/batch/update"] == 1
    assert calls["PUT /crm/v4/objects/deals/{id}/associations/default/contacts/{id}"] == 1
    assert stats["throttled_429"] == 1
    assert stats["faults_injected"] == {"throttle": 1, "record_error": 1}
    assert stats["records_written_by_object"] == {"deals": 3, "contacts": 1}
