"""HubSpot writeback against the sandbox: batching, inline associations, both idempotency
modes, and the fault matrix rows that concern writes (207, 409, 429 storms, 5xx, a reply
lost after commit)."""

from __future__ import annotations

import pytest

from connector.crm.hubspot.client import HubSpotCrm
from connector.crm.hubspot.engagements import PENDING
from connector.errors import ConfigError
from connector.sandbox.faults import RecordErrorSpec, ServerErrors, Storm
from connector.sandbox.server import Sandbox
from tests.integration.hubspot_kit import (
    Account,
    MemoryIdMap,
    activity,
    contact,
    field_update,
    fresh_account,
    mapping,
    sb,
    settings_for,
    task,
)

__all__ = ["sb"]  # pytest fixture


@pytest.fixture
def account(sb: Sandbox) -> Account:
    return fresh_account(sb)


def _endpoints(account: Account) -> dict[str, int]:
    calls: dict[str, int] = account.stats()["calls_by_endpoint"]
    return calls


@pytest.mark.parametrize("mode", ["unique_property", "local_map"])
def test_mixed_writes_go_100_per_call_associated_inline_and_replay_without_duplicates(
    account: Account, mode: str
) -> None:
    if mode == "local_map":
        account.emulator.refuse_engagement_unique()
    crm = account.adapter(mode)
    writes = [
        *(activity(i, target=i % 30) for i in range(150)),
        *(task(i, target=i % 30) for i in range(150)),
        *(field_update(i, target=i) for i in range(30)),
    ]
    first = crm.write(writes)
    assert [r.external_id for r in first] == [w.external_id for w in writes]
    assert all(r.ok for r in first), [r for r in first if not r.ok][:3]
    assert all(r.created for r in first[:300])
    assert crm.api.calls == 5  # 2 + 2 creates and one contact update
    assert not any("association" in e for e in _endpoints(account))
    links = account.emulator.portal.associations
    comm_id = first[7].crm_id
    task_id = first[150 + 7].crm_id
    assert comm_id is not None
    assert task_id is not None
    assert [t for t, _ in links.of("communications", comm_id, "contacts")]
    assert [t for t, _ in links.of("tasks", task_id, "contacts")]

    second = crm.write(writes)
    assert all(r.ok for r in second), [r for r in second if not r.ok][:3]
    assert not any(r.created for r in second)
    assert [r.crm_id for r in second[:300]] == [r.crm_id for r in first[:300]]
    for w in writes[:300]:
        obj = "communications" if w.kind == "activity" else "tasks"
        assert account.count(obj, w.external_id) == 1
    record = account.emulator.find("communications", "smsync_external_id", writes[0].external_id)
    props = record[0]["properties"]
    assert props["hs_communication_channel_type"] == "SMS"
    assert props["hs_communication_logged_from"] == "CRM"
    assert props["hubspot_owner_id"] == "1000001"
    t = account.emulator.find("tasks", "smsync_external_id", writes[150].external_id)[0]
    assert t["properties"]["hs_task_priority"] == "HIGH"
    assert t["properties"]["hs_task_status"] == "NOT_STARTED"
    assert t["properties"]["hs_timestamp"].startswith("2026-03-02T17:00:00")


def test_updates_of_one_contact_merge_into_one_input(account: Account) -> None:
    crm = account.adapter()
    writes = [
        field_update(1, target=3, journey="engaged"),
        field_update(2, target=3, journey="nurture"),
    ]
    results = crm.write(writes)
    assert all(r.ok for r in results)
    assert crm.api.calls == 1
    rec = account.emulator.find("contacts", "id", contact(3).id)[0]
    assert rec["properties"]["smsync_journey_state"] == "nurture"


def test_unmapped_value_fails_only_that_write(account: Account) -> None:
    crm = account.adapter()
    bad = field_update(1, target=2, journey="no_such_state")
    results = crm.write([bad, field_update(2, target=4)])
    assert not results[0].ok
    assert results[0].error_code == "MAPPING"
    assert not results[0].retriable
    assert results[1].ok


def test_207_commits_successes_and_reports_each_failure_with_its_reason(
    account: Account,
) -> None:
    crm = account.adapter()
    writes = [activity(i, target=i) for i in range(10)]
    account.faults(
        record_errors={
            writes[2].external_id: RecordErrorSpec(code="FIELD_INTEGRITY_EXCEPTION"),
            writes[5].external_id: RecordErrorSpec(code="RATE_LIMIT", message="slow down"),
        }
    )
    results = crm.write(writes)
    by_id = {r.external_id: r for r in results}
    assert [r.ok for r in results].count(True) == 8
    failed = by_id[writes[2].external_id]
    assert failed.error_code == "FIELD_INTEGRITY_EXCEPTION"
    assert failed.error_message
    assert not failed.retriable
    assert by_id[writes[5].external_id].retriable
    assert crm.api.calls == 1
    for i, w in enumerate(writes):
        assert account.count("communications", w.external_id) == (0 if i in (2, 5) else 1)


def test_whole_batch_409_is_split_until_it_goes_through(account: Account) -> None:
    crm = account.adapter()
    writes = [activity(i, target=i % 20) for i in range(100)]
    account.faults(batch_conflicts=3)
    results = crm.write(writes)
    assert all(r.ok for r in results)
    assert all(account.count("communications", w.external_id) == 1 for w in writes)
    # 100 -> 409; 50 -> 409; 25 -> 409; then 12, 13, 25 and 50 go through
    assert _endpoints(account)["POST /crm/v3/objects/communications/batch/create"] == 7


def test_a_409_that_never_clears_fails_records_as_retriable(account: Account) -> None:
    crm = account.adapter()
    writes = [activity(i) for i in range(2)]
    account.faults(batch_conflicts=50)
    results = crm.write(writes)
    assert [r.ok for r in results] == [False, False]
    assert all(r.retriable and r.error_code == "CONFLICT" for r in results)


@pytest.mark.parametrize(("retry_after", "min_wait"), [(2.0, 6.0), (None, 30.0)])
def test_429_storm_waits_as_told_or_out_the_window(
    account: Account, retry_after: float | None, min_wait: float
) -> None:
    crm = account.adapter()
    writes = [activity(i) for i in range(5)]
    account.faults(throttle=Storm(count=3, retry_after=retry_after))
    results = crm.write(writes)
    assert all(r.ok for r in results)
    assert account.stats()["throttled_429"] == 3
    limiter = crm.api.limiter
    assert limiter.throttled == 3
    assert min_wait <= limiter.waited_s < min_wait + 5
    assert all(account.count("communications", w.external_id) == 1 for w in writes)


def test_the_limiter_keeps_under_the_ten_second_window(account: Account) -> None:
    crm = account.adapter()
    account.emulator.configure_limits(ten_secondly=5)
    crm.api.limiter.per_window = 5
    writes = [field_update(i, target=i % 40) for i in range(40)] + [
        activity(i, target=i % 40) for i in range(1_000)
    ]
    results = crm.write(writes)
    assert all(r.ok for r in results)
    assert account.stats()["throttled_429"] == 0
    assert crm.api.limiter.waited_s >= 10  # 11 calls at 5 per window: two windows' wait


@pytest.mark.parametrize("mode", ["unique_property", "local_map"])
def test_5xx_is_retried_with_backoff_and_no_duplicate(account: Account, mode: str) -> None:
    if mode == "local_map":
        account.emulator.refuse_engagement_unique()
    crm = account.adapter(mode)
    writes = [activity(i) for i in range(3)] + [task(i) for i in range(3)]
    account.faults(server_errors=ServerErrors(count=2, status=503))
    results = crm.write(writes)
    assert all(r.ok for r in results)
    assert crm.api.limiter.waited_s == 0  # backoff sleeps are the retry factory's
    for w in writes:
        obj = "communications" if w.kind == "activity" else "tasks"
        assert account.count(obj, w.external_id) == 1


def test_a_deleted_contact_fails_only_its_writes_as_orphaned(account: Account) -> None:
    crm = account.adapter()
    writes = [activity(i, target=i % 5) for i in range(20)]
    writes += [activity(100 + i, target=900 + i) for i in range(3)]  # no such contacts
    results = crm.write(writes)
    assert all(r.ok for r in results[:20])
    assert all(r.orphaned and not r.retriable for r in results[20:])
    assert crm.api.calls <= 4


def test_5xx_that_outlasts_the_retries_fails_records_as_retriable(account: Account) -> None:
    crm = account.adapter(attempts=2)
    account.faults(server_errors=ServerErrors(count=10, status=502))
    results = crm.write([activity(1), field_update(2, target=2)])
    assert [r.ok for r in results] == [False, False]
    assert all(r.retriable for r in results)


@pytest.mark.parametrize("mode", ["unique_property", "local_map"])
def test_reply_lost_after_commit_is_reconciled_not_duplicated(account: Account, mode: str) -> None:
    if mode == "local_map":
        account.emulator.refuse_engagement_unique()
    id_map = MemoryIdMap()
    crm = account.adapter(mode, id_map=id_map)
    writes = [activity(i, target=i) for i in range(4)]
    account.faults(drop_after_commit=1)
    results = crm.write(writes)
    assert all(r.ok for r in results), results
    assert all(account.count("communications", w.external_id) == 1 for w in writes)
    if mode == "local_map":
        assert id_map.get_many([w.external_id for w in writes]) == {
            r.external_id: r.crm_id for r in results
        }


def test_local_map_pending_marker_triggers_a_search_before_create(account: Account) -> None:
    """A crash between the create's commit and the local map's update leaves a pending
    marker; the next run searches and adopts the existing record."""
    account.emulator.refuse_engagement_unique()
    id_map = MemoryIdMap()
    crm = account.adapter("local_map", id_map=id_map)
    w = activity(1)
    first = crm.write([w])
    id_map.put_many({w.external_id: PENDING})  # as if the crash lost the id
    again = account.adapter("local_map", id_map=id_map).write([w])
    assert again[0].ok
    assert again[0].crm_id == first[0].crm_id
    assert account.count("communications", w.external_id) == 1


def test_local_map_without_an_id_map_is_refused_before_any_call(account: Account) -> None:
    """An id map forgotten on restart would create every engagement again: the adapter is
    not built without one (the product passes the store's StoreIdMap)."""
    with pytest.raises(ConfigError, match="local_map keeps each HubSpot id"):
        HubSpotCrm.from_settings(settings_for(account.sb), mapping("local_map"))
    assert sum(account.stats()["calls_by_endpoint"].values()) == 0
