"""Partial failures, whole-batch conflicts, delayed search visibility, the unique-value
knob, auth failures and exact statistics, seen through hubspot-api-client."""

from __future__ import annotations

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import UnauthorizedException
from hubspot.crm.objects.tasks import ApiException as TaskApiException
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputUpsert as TaskUpsertBatch,
)
from hubspot.crm.objects.tasks import SimplePublicObjectBatchInputUpsert as TaskUpsert
from hubspot.crm.properties import ApiException as PropertyApiException
from hubspot.crm.properties import PropertyCreate

from connector.sandbox.faults import FaultSpec, RecordErrorSpec
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.hubspot_fixtures import admin, body_of, client, hs, sb

__all__ = ["hs", "sb"]  # pytest fixtures


@pytest.fixture
def api(sb: Sandbox, hs: HubSpotEmulator) -> HubSpot:
    return client(sb)


def _creates(n: int) -> BatchInputSimplePublicObjectBatchInputForCreate:
    return BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectInputForCreate(
                properties={"smsync_external_id": f"ext-{i}", "email": f"p{i}@example.org"}
            )
            for i in range(n)
        ]
    )


def _by_email(email: str) -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="email", operator="EQ", value=email)])
        ],
        properties=["email", "firstname"],
    )


def test_record_fault_yields_a_207_the_sdk_deserialises(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    sb.state.faults.set(
        "hubspot",
        FaultSpec(
            record_errors={
                "ext-3": RecordErrorSpec(code="INVALID_EMAIL", message="Email is invalid")
            }
        ),
    )
    result = api.crm.contacts.batch_api.create(_creates(5))
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert result.num_errors == 1
    assert len(result.results) == 4
    error = result.errors[0]
    assert error.status == "error"
    assert error.category == "INVALID_EMAIL"
    assert error.message == "Email is invalid"
    assert error.context == {"ids": ["ext-3"]}
    assert hs.find("contacts", "smsync_external_id", "ext-3") == []
    assert sb.state.stats.records_written("hubspot") == 4

    upserted = api.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=f"ext-{i}", id_property="smsync_external_id", properties={"firstname": "Z"}
                )
                for i in (2, 3)
            ]
        )
    )
    assert isinstance(upserted, BatchResponseSimplePublicUpsertObjectWithErrors)
    assert [r.new for r in upserted.results] == [False]
    assert upserted.errors[0].id == "ext-3"


def test_duplicate_unique_value_fails_only_that_record(hs: HubSpotEmulator, api: HubSpot) -> None:
    api.crm.contacts.batch_api.create(_creates(2))
    again = api.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectInputForCreate(properties={"smsync_external_id": "ext-1"}),
                SimplePublicObjectInputForCreate(properties={"smsync_external_id": "ext-9"}),
            ]
        )
    )
    assert isinstance(again, BatchResponseSimplePublicObjectWithErrors)
    assert again.errors[0].category == "CONFLICT"
    existing = hs.find("contacts", "smsync_external_id", "ext-1")
    assert again.errors[0].context["existingId"] == [existing[0]["id"]]
    assert len(existing) == 1
    assert len(hs.find("contacts", "smsync_external_id", "ext-9")) == 1


def test_batch_conflict_fault_is_a_409_that_writes_nothing(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    admin(sb, "POST", "/faults/hubspot", {"batch_conflicts": 1})
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.batch_api.create(_creates(10))
    assert caught.value.status == 409
    body = body_of(caught.value)
    assert body["category"] == "CONFLICT"
    assert body["status"] == "error"
    assert hs.portal.stores["contacts"].records == {}
    done = api.crm.contacts.batch_api.create(_creates(10))
    assert isinstance(done, BatchResponseSimplePublicObject)
    assert len(done.results) == 10


def test_index_delay_hides_writes_from_search_until_the_clock_moves(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    assert admin(sb, "POST", "/hubspot/index-delay", {"seconds": 30}) == {"seconds": 30.0}
    made = api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "late@example.org", "firstname": "A"})
    )
    search = api.crm.contacts.search_api
    assert search.do_search(public_object_search_request=_by_email("late@example.org")).total == 0
    assert api.crm.contacts.basic_api.get_by_id(made.id).id == made.id  # reads are immediate
    sb.state.clock.advance(30)
    found = search.do_search(public_object_search_request=_by_email("late@example.org"))
    assert [r.id for r in found.results] == [made.id]

    api.crm.contacts.basic_api.update(
        made.id, SimplePublicObjectInput(properties={"firstname": "B"})
    )
    sb.state.clock.advance(10)
    stale = search.do_search(public_object_search_request=_by_email("late@example.org"))
    assert stale.results[0].properties["firstname"] == "A"
    sb.state.clock.advance(20)
    fresh_view = search.do_search(public_object_search_request=_by_email("late@example.org"))
    assert fresh_view.results[0].properties["firstname"] == "B"


def _task_property() -> PropertyCreate:
    return PropertyCreate(
        name="smsync_key",
        label="smsync key",
        type="string",
        field_type="text",
        group_name="task",
        has_unique_value=True,
    )


def test_refuse_unique_knob_covers_both_modes(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    task_upsert = TaskUpsertBatch(
        inputs=[
            TaskUpsert(
                id="t-1",
                id_property="smsync_external_id",
                properties={"hs_timestamp": "2025-03-05T09:00:00Z"},
            )
        ]
    )
    assert api.crm.objects.tasks.batch_api.upsert(task_upsert).results[0].new is True

    state = admin(sb, "POST", "/hubspot/unique", {"refuse_engagement_unique": True})
    assert state["refuse_engagement_unique"] is True
    assert state["unique_properties"]["tasks"] == []
    assert state["unique_properties"]["contacts"] == ["smsync_external_id", "email"]
    prop = api.crm.properties.core_api.get_by_name("tasks", "smsync_external_id")
    assert prop.has_unique_value is False
    with pytest.raises(PropertyApiException) as refused:
        api.crm.properties.core_api.create("tasks", _task_property())
    assert refused.value.status == 400
    assert body_of(refused.value)["category"] == "VALIDATION_ERROR"
    with pytest.raises(TaskApiException) as no_upsert:
        api.crm.objects.tasks.batch_api.upsert(task_upsert)
    assert no_upsert.value.status == 400
    contact_prop = PropertyCreate(
        name="smsync_key",
        label="smsync key",
        type="string",
        field_type="text",
        group_name="smsync",
        has_unique_value=True,
    )
    assert api.crm.properties.core_api.create("contacts", contact_prop).has_unique_value

    admin(sb, "POST", "/hubspot/unique", {"refuse_engagement_unique": False})
    assert api.crm.properties.core_api.create("tasks", _task_property()).has_unique_value


def test_auth_failures(sb: Sandbox, hs: HubSpotEmulator, api: HubSpot) -> None:
    stranger = HubSpot(access_token="pat-na1-wrong", host=sb.urls["hubspot"])
    with pytest.raises(UnauthorizedException) as bad:
        stranger.crm.contacts.basic_api.get_page()
    assert bad.value.status == 401
    assert body_of(bad.value)["category"] == "INVALID_AUTHENTICATION"

    sb.state.faults.set("hubspot", FaultSpec(session_expire_after=1))
    api.crm.contacts.basic_api.get_page()
    with pytest.raises(UnauthorizedException) as expired:
        api.crm.contacts.basic_api.get_page()
    assert body_of(expired.value)["category"] == "EXPIRED_AUTHENTICATION"
    api.crm.contacts.basic_api.get_page()

    assert admin(sb, "POST", "/hubspot/token", {"revoked": True}) == {"revoked": True}
    with pytest.raises(UnauthorizedException):
        api.crm.contacts.basic_api.get_page()


def test_stats_count_calls_and_records_exactly(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    api.crm.contacts.batch_api.create(_creates(7))
    api.crm.contacts.basic_api.get_page(limit=5)
    api.crm.contacts.basic_api.update(
        hs.find("contacts", "smsync_external_id", "ext-0")[0]["id"],
        SimplePublicObjectInput(properties={"firstname": "Q"}),
    )
    with pytest.raises(ApiException):
        api.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"x": "1"}))
    stats = httpx.get(f"{sb.urls['admin']}/__sandbox/stats").json()["hubspot"]
    assert stats["calls"] == 4
    assert stats["records_written"] == 8
    assert stats["records_written_by_object"] == {"contacts": 8}
    assert stats["errors_by_status"] == {"400": 1}
    assert stats["calls_by_endpoint"]["POST /crm/v3/objects/contacts/batch/create"] == 1
    records = httpx.get(
        f"{sb.urls['admin']}/__sandbox/records/hubspot/contacts",
        params={"field": "smsync_external_id", "value": "ext-0"},
    ).json()
    assert records["count"] == 1
    assert records["records"][0]["properties"]["firstname"] == "Q"
