"""The HubSpot emulator driven by hubspot-api-client 12, unmodified, over real HTTP:
batch upsert, inline associations, search paging and its caps, schema and owners."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4 import PublicFetchAssociationsBatchRequest as FetchRequest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicUpsertObject,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.communications import (
    BatchInputSimplePublicObjectBatchInputForCreate as CommunicationBatch,
)
from hubspot.crm.objects.communications import (
    SimplePublicObjectInputForCreate as CommunicationInput,
)
from hubspot.crm.objects.tasks import ApiException as TaskApiException
from hubspot.crm.objects.tasks import AssociationSpec, PublicAssociationsForObject, PublicObjectId
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate as TaskBatch,
)
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput
from hubspot.crm.properties import ApiException as PropertyApiException
from hubspot.crm.properties import PropertyCreate

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.hubspot_fixtures import FROZEN_AT, body_of, client, hs, sb

__all__ = ["hs", "sb"]  # pytest fixtures


@pytest.fixture
def api(sb: Sandbox, hs: HubSpotEmulator) -> HubSpot:
    return client(sb)


def _upsert_inputs(n: int, *, start: int = 0) -> BatchInputSimplePublicObjectBatchInputUpsert:
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id=f"ext-{i:04d}",
                id_property="smsync_external_id",
                properties={"firstname": f"F{i}", "lifecyclestage": "lead"},
            )
            for i in range(start, start + n)
        ]
    )


def _association(type_id: int, to_id: str) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=to_id),
        types=[
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)
        ],
    )


def test_batch_upsert_by_unique_property_is_idempotent(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    first = api.crm.contacts.batch_api.upsert(_upsert_inputs(100))
    assert isinstance(first, BatchResponseSimplePublicUpsertObject)
    assert first.status == "COMPLETE"
    assert len(first.results) == 100
    assert all(r.new for r in first.results)

    replay = api.crm.contacts.batch_api.upsert(_upsert_inputs(100))
    assert len(replay.results) == 100
    assert not any(r.new for r in replay.results)
    assert {r.id for r in replay.results} == {r.id for r in first.results}
    for i in (0, 42, 99):
        found = hs.find("contacts", "smsync_external_id", f"ext-{i:04d}")
        assert len(found) == 1
        assert found[0]["properties"]["firstname"] == f"F{i}"
    assert len(hs.portal.stores["contacts"].records) == 100
    assert sb.state.stats.records_written("hubspot") == 200

    read = api.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id="ext-0007")],
            id_property="smsync_external_id",
            properties=["firstname", "smsync_external_id"],
            properties_with_history=[],
        )
    )
    assert read.results[0].properties["firstname"] == "F7"


def test_tasks_and_communications_associate_inline_and_read_back_through_v4(
    hs: HubSpotEmulator, api: HubSpot
) -> None:
    contacts = api.crm.contacts.batch_api.upsert(_upsert_inputs(2)).results
    contact_id = min(c.id for c in contacts)
    tasks = api.crm.objects.tasks.batch_api.create(
        TaskBatch(
            inputs=[
                TaskInput(
                    properties={
                        "hs_timestamp": "2025-03-05T09:00:00Z",
                        "hs_task_subject": f"Call back {i}",
                        "hs_task_status": "NOT_STARTED",
                        "hs_task_priority": "HIGH",
                        "hs_task_type": "CALL",
                        "smsync_external_id": f"task-{i}",
                    },
                    associations=[_association(204, contact_id)],
                )
                for i in range(3)
            ]
        )
    )
    assert len(tasks.results) == 3
    assert tasks.results[0].properties["hs_timestamp"] == "2025-03-05T09:00:00.000Z"
    task_id = tasks.results[0].id

    v4 = api.crm.associations.v4.basic_api.get_page("tasks", task_id, "contacts")
    assert [str(r.to_object_id) for r in v4.results] == [contact_id]
    assert v4.results[0].association_types[0].type_id == 204
    assert v4.results[0].association_types[0].category == "HUBSPOT_DEFINED"

    reverse = api.crm.associations.v4.batch_api.get_page(
        "contacts",
        "tasks",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[FetchRequest(id=contact_id)]),
    )
    assert reverse.results[0]._from.id == contact_id
    linked = {str(t.to_object_id) for t in reverse.results[0].to}
    assert linked == {t.id for t in tasks.results}
    assert {t.association_types[0].type_id for t in reverse.results[0].to} == {203}

    sms = api.crm.objects.communications.batch_api.create(
        CommunicationBatch(
            inputs=[
                CommunicationInput(
                    properties={
                        "hs_communication_channel_type": "SMS",
                        "hs_communication_logged_from": "CRM",
                        "hs_communication_body": "Hi, checking in",
                        "hs_timestamp": str(int(FROZEN_AT.timestamp() * 1000)),
                    },
                    associations=[_association(81, contact_id)],
                )
            ]
        )
    )
    comm_id = sms.results[0].id
    assert sms.results[0].properties["hs_timestamp"] == "2025-03-04T15:00:00.000Z"
    back = api.crm.associations.v4.basic_api.get_page("0-18", comm_id, "0-1")
    assert [(str(r.to_object_id), r.association_types[0].type_id) for r in back.results] == [
        (contact_id, 81)
    ]
    task = api.crm.objects.tasks.basic_api.get_by_id(task_id, associations=["contacts"])
    assert task.associations["contacts"].results[0].id == contact_id

    with pytest.raises(TaskApiException) as wrong_type:
        api.crm.objects.tasks.basic_api.create(
            TaskInput(
                properties={"hs_timestamp": "2025-03-05T09:00:00Z"},
                associations=[_association(81, contact_id)],
            )
        )
    assert wrong_type.value.status == 400
    assert body_of(wrong_type.value)["category"] == "VALIDATION_ERROR"


def test_search_pages_sorted_by_id_200_at_a_time(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    assert hs.seed(generate(1000, seed=3))["contacts"] == 1000
    seen: list[int] = []
    after: str | None = None
    pages = 0
    while True:
        request = PublicObjectSearchRequest(
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            properties=["email", "lifecyclestage"],
            limit=200,
            after=after,
        )
        page = api.crm.contacts.search_api.do_search(public_object_search_request=request)
        pages += 1
        assert page.total == 1000
        seen.extend(int(r.id) for r in page.results)
        sb.state.clock.advance(1)  # stay under the 5 searches/s limit
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == 5
    assert len(seen) == 1000
    assert seen == sorted(seen)
    assert len(set(seen)) == 1000

    customers = api.crm.contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(property_name="lifecyclestage", operator="EQ", value="customer")
                    ]
                ),
                FilterGroup(
                    filters=[
                        Filter(
                            property_name="lifecyclestage",
                            operator="IN",
                            values=["lead", "subscriber"],
                        )
                    ]
                ),
            ],
            limit=200,
        )
    )
    expected = sum(
        c.stage in {"customer", "lead", "subscriber"} for c in generate(1000, seed=3).contacts
    )
    assert customers.total == expected


def test_batch_of_101_is_rejected_whole(sb: Sandbox, hs: HubSpotEmulator, api: HubSpot) -> None:
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.batch_api.upsert(_upsert_inputs(101))
    assert caught.value.status == 400
    body = body_of(caught.value)
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == "The maximum number of inputs supported in a batch is 100"
    assert body["correlationId"]
    assert hs.portal.stores["contacts"].records == {}
    assert sb.state.stats.records_written("hubspot") == 0


def _window_search(after: str | None) -> PublicObjectSearchRequest:
    since = FROZEN_AT - timedelta(days=1)
    return PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[
                    Filter(
                        property_name="lastmodifieddate",
                        operator="BETWEEN",
                        value=str(int(since.timestamp() * 1000)),
                        high_value=FROZEN_AT.isoformat(),
                    )
                ]
            )
        ],
        sorts=["hs_object_id"],
        limit=200,
        after=after,
    )


def test_search_caps_at_10000_results_and_rejects_paging_past_it(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    hs.seed(generate(12_000, seed=5))
    near_end = api.crm.contacts.search_api.do_search(
        public_object_search_request=_window_search("9800")
    )
    assert near_end.total == 12_000  # every seeded change falls inside one day
    assert len(near_end.results) == 200
    assert near_end.paging.next.after == "10000"
    sb.state.clock.advance(1)
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.search_api.do_search(public_object_search_request=_window_search("10000"))
    assert caught.value.status == 400
    assert body_of(caught.value)["category"] == "VALIDATION_ERROR"


def test_search_body_over_3000_chars_is_rejected(hs: HubSpotEmulator, api: HubSpot) -> None:
    request = PublicObjectSearchRequest(properties=[f"prop_{i:04d}" for i in range(300)], limit=1)
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert caught.value.status == 400
    assert "3000" in body_of(caught.value)["message"]


def test_write_validation_matches_hubspot(hs: HubSpotEmulator, api: HubSpot) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"shoe_size": "9"}, 'Property \\"shoe_size\\" does not exist'),
        ({"lifecyclestage": "prospect"}, "INVALID_OPTION"),
        ({"smsync_consent_timestamp": "yesterday"}, "INVALID_DATE"),
        ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
    ]
    for properties, expected in cases:
        with pytest.raises(ApiException) as caught:
            api.crm.contacts.basic_api.create(
                SimplePublicObjectInputForCreate(properties=properties)
            )
        assert caught.value.status == 400
        body = body_of(caught.value)
        assert body["category"] == "VALIDATION_ERROR"
        assert expected in body["message"]
    with pytest.raises(TaskApiException) as missing:
        api.crm.objects.tasks.basic_api.create(TaskInput(properties={"hs_task_subject": "x"}))
    assert missing.value.status == 400
    assert "REQUIRED_PROPERTY" in body_of(missing.value)["message"]
    assert hs.portal.stores["contacts"].records == {}


def test_single_record_lifecycle_and_unique_conflict(hs: HubSpotEmulator, api: HubSpot) -> None:
    made = api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "a@example.org", "smsync_external_id": "c-1", "firstname": "A"}
        )
    )
    assert made.properties["createdate"] == "2025-03-04T15:00:00.000Z"
    with pytest.raises(ApiException) as dup:
        api.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"smsync_external_id": "c-1"})
        )
    assert dup.value.status == 409
    assert body_of(dup.value)["category"] == "CONFLICT"
    assert made.id in body_of(dup.value)["message"]

    hs.state.clock.advance(60)
    updated = api.crm.contacts.basic_api.update(
        "c-1",
        SimplePublicObjectInput(properties={"lastname": "B"}),
        id_property="smsync_external_id",
    )
    assert updated.properties["lastmodifieddate"] == "2025-03-04T15:01:00.000Z"
    got = api.crm.contacts.basic_api.get_by_id(made.id, properties=["lastname", "phone"])
    assert got.properties["lastname"] == "B"
    assert got.properties["phone"] is None
    api.crm.contacts.basic_api.archive(made.id)
    with pytest.raises(ApiException) as gone:
        api.crm.contacts.basic_api.get_by_id(made.id)
    assert gone.value.status == 404
    api.crm.contacts.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=made.id)])
    )


def test_list_endpoint_pages_by_id(hs: HubSpotEmulator, api: HubSpot) -> None:
    hs.seed(generate(250, seed=9))
    ids: list[str] = []
    after: str | None = None
    while True:
        page = api.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email"])
        ids.extend(r.id for r in page.results)
        if page.paging is None:
            break
        assert page.paging.next.link.endswith(f"after={page.paging.next.after}")
        after = page.paging.next.after
    assert len(ids) == 250
    assert len(set(ids)) == 250


def test_schema_and_owners(hs: HubSpotEmulator, api: HubSpot) -> None:
    seeded = hs.seed(generate(20, seed=1))
    assert seeded["owners"] == 8
    props = {p.name: p for p in api.crm.properties.core_api.get_all("contacts").results}
    assert props["smsync_external_id"].has_unique_value is True
    assert "marketingqualifiedlead" in [o.value for o in props["lifecyclestage"].options]
    task_status = api.crm.properties.core_api.get_by_name("tasks", "hs_task_status")
    assert [o.value for o in task_status.options][:2] == ["NOT_STARTED", "IN_PROGRESS"]

    made = api.crm.properties.core_api.create(
        "0-27",
        PropertyCreate(
            name="smsync_play",
            label="smsync play",
            type="string",
            field_type="text",
            group_name="task",
            has_unique_value=True,
        ),
    )
    assert made.has_unique_value is True
    with pytest.raises(PropertyApiException) as again:
        api.crm.properties.core_api.create(
            "tasks",
            PropertyCreate(
                name="smsync_play", label="x", type="string", field_type="text", group_name="task"
            ),
        )
    assert again.value.status == 409

    # the 4 active owners the shipped mapping names (ids 1000001...) list first, then the 8
    owners = api.crm.owners.owners_api.get_page(limit=5)
    assert len(owners.results) == 5
    rest = api.crm.owners.owners_api.get_page(limit=5, after=owners.paging.next.after)
    assert len(rest.results) == 5
    last = api.crm.owners.owners_api.get_page(limit=5, after=rest.paging.next.after)
    assert len(last.results) == 2
    assert [o.id for o in owners.results[:4]] == ["1000001", "1000002", "1000003", "1000009"]
    one = api.crm.owners.owners_api.get_by_id(owners.results[4].id)
    assert one.teams[0].name == "East"
    contact = hs.find("contacts", "email", generate(20, seed=1).contacts[0].email)[0]
    assert contact["properties"]["hubspot_owner_id"] in {
        o.id for o in owners.results + rest.results + last.results
    }
