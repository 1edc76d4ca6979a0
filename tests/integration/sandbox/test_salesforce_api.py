"""The Salesforce emulator driven by simple-salesforce 1.12, unmodified, over real HTTPS:
query paging, collection upserts, describe, validation, composite rules and faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

from connector.sandbox.server import Sandbox
from tests.integration.sandbox.salesforce_fixtures import (
    admin,
    content,
    obj,
    rest,
    sandbox,
    sb,
    sf,
)

__all__ = ["sandbox", "sb", "sf"]

UPSERT_TASKS = "composite/sobjects/Task/SMS_Message_Id__c"


def _tasks(n: int, *, start: int = 0, prefix: str = "SM") -> list[dict[str, Any]]:
    return [
        {
            "attributes": {"type": "Task"},
            "SMS_Message_Id__c": f"{prefix}{i:032d}",
            "Subject": f"SMS {i}",
            "Status": "Completed",
            "SMS_Direction__c": "Inbound",
            "ActivityDate": "2026-03-04",
        }
        for i in range(start, start + n)
    ]


def _errors(result: dict[str, Any]) -> list[str]:
    return [e["statusCode"] for e in result["errors"]]


def test_query_pages_2500_seeded_records_in_two_pages(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(5000)
    soql = "SELECT Id, LastName, MobilePhone, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"
    first = sf.query(soql)
    assert first["totalSize"] == 2500
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True
    assert "nextRecordsUrl" not in second
    assert len(second["records"]) == 500
    ids = [r["Id"] for r in first["records"] + second["records"]]
    assert len(set(ids)) == 2500
    assert first["records"][0]["attributes"]["type"] == "Lead"
    assert all(i.startswith("00Q") and len(i) == 18 for i in ids)
    everything = sf.query_all(soql)
    assert [r["Id"] for r in everything["records"]] == ids
    small = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small["records"]) == 500
    calls = sb.state.stats.snapshot()["salesforce"]["calls_by_endpoint"]
    assert calls["GET /services/data/v62.0/query/"] == 3
    more = {k: n for k, n in calls.items() if k.startswith("GET /services/data/v62.0/query/01g")}
    assert sum(more.values()) == 2


def test_seed_maps_canonical_values_to_picklists(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(40)
    leads = sf.query_all("SELECT Status, SMS_Consent_Status__c, OwnerId, Owner.Team__c FROM Lead")
    statuses = {r["Status"] for r in leads["records"]}
    assert statuses <= {"Open - Not Contacted", "Working - Contacted", "Closed - Converted"}
    consent = {r["SMS_Consent_Status__c"] for r in leads["records"]}
    assert consent <= {"Opted_In", "Opted_Out", "Unknown"}
    assert all(r["Owner"]["Team__c"] for r in leads["records"])
    stages = sf.query_all("SELECT Lifecycle_Stage__c FROM Contact")["records"]
    assert {r["Lifecycle_Stage__c"] for r in stages} <= {
        "Subscriber",
        "Lead",
        "MQL",
        "SQL",
        "Opportunity",
        "Customer",
    }
    # the integration user, 8 seeded owners and the 6 users the shipped mapping names
    assert sf.query("SELECT COUNT() FROM User WHERE Team__c != null")["totalSize"] == 15


def test_collection_upsert_of_200_then_replay_creates_nothing(sb: Sandbox, sf: Salesforce) -> None:
    records = _tasks(200)
    first = rest(sf, UPSERT_TASKS, method="PATCH", json={"allOrNone": False, "records": records})
    assert len(first) == 200
    assert all(r["success"] and r["created"] for r in first)
    replay = rest(sf, UPSERT_TASKS, method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["id"] for r in replay] == [r["id"] for r in first]
    assert not any(r["created"] for r in replay)
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 200
    assert (
        len(
            sb.emulators["salesforce"].find(
                "Task", "SMS_Message_Id__c", records[7]["SMS_Message_Id__c"]
            )
        )
        == 1
    )
    stats = sb.state.stats.snapshot()["salesforce"]
    assert stats["calls_by_endpoint"][f"PATCH /services/data/v62.0/{UPSERT_TASKS}"] == 2
    assert stats["records_written_by_object"] == {"Task": 400}
    one = obj(sf, "Task").get_by_custom_id("SMS_Message_Id__c", records[0]["SMS_Message_Id__c"])
    assert one["ActivityDate"] == "2026-03-04"
    assert one["CreatedDate"].endswith("+0000")


def test_describe_shows_the_external_id_and_admin_can_break_it(sb: Sandbox, sf: Salesforce) -> None:
    fields = {f["name"]: f for f in obj(sf, "Task").describe()["fields"]}
    ext = fields["SMS_Message_Id__c"]
    assert ext["externalId"] is True
    assert ext["unique"] is True
    assert ext["type"] == "string"
    assert ext["length"] == 255
    status = {f["name"]: f for f in obj(sf, "Lead").describe()["fields"]}["SMS_Consent_Status__c"]
    assert [p["value"] for p in status["picklistValues"]] == ["Opted_In", "Opted_Out", "Unknown"]
    described: Any = sf.describe()
    assert {o["name"] for o in described["sobjects"]} >= {"Lead", "Contact", "Task", "User"}
    admin(
        sb,
        "salesforce/schema",
        {"object": "Task", "field": "SMS_Message_Id__c", "externalId": False},
    )
    fields = {f["name"]: f for f in obj(sf, "Task").describe()["fields"]}
    assert fields["SMS_Message_Id__c"]["externalId"] is False
    with pytest.raises(SalesforceMalformedRequest):
        rest(sf, UPSERT_TASKS, method="PATCH", json={"records": _tasks(1)})
    admin(sb, "salesforce/schema", {"object": "Lead", "field": "SMS_Disposition__c", "drop": True})
    assert "SMS_Disposition__c" not in {f["name"] for f in obj(sf, "Lead").describe()["fields"]}


def test_single_record_routes_and_upsert_status_codes(sf: Salesforce) -> None:
    created = obj(sf, "Lead").create(
        {"LastName": "O'Brien", "Company": "Acme", "MobilePhone": "+14155550100"}
    )
    assert created["success"] is True
    assert created["id"].startswith("00Q")
    assert obj(sf, "Lead").update(created["id"], {"SMS_Journey_State__c": "Engaged"}) == 204
    got = obj(sf, "Lead").get(created["id"])
    assert got["SMS_Journey_State__c"] == "Engaged"
    assert got["Status"] == "Open - Not Contacted"
    assert got["IsDeleted"] is False
    assert got["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v62.0/sobjects/Lead/{created['id']}",
    }
    assert obj(sf, "Task").upsert("SMS_Message_Id__c/SMabc", {"Subject": "hi"}) == 201
    assert obj(sf, "Task").upsert("SMS_Message_Id__c/SMabc", {"Subject": "hello"}) == 200
    assert obj(sf, "Task").get_by_custom_id("SMS_Message_Id__c", "SMabc")["Subject"] == "hello"
    assert obj(sf, "Lead").delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        obj(sf, "Lead").get(created["id"])
    with pytest.raises(SalesforceResourceNotFound):
        obj(sf, "Lead").get("00Q000000000000AAA")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"LastName": "A", "Company": "B", "Foo__c": 1}, "INVALID_FIELD"),
        (
            {"LastName": "A", "Company": "B", "Status": "Nope"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        ({"LastName": "A" * 81, "Company": "B"}, "STRING_TOO_LONG"),
        ({"LastName": "A"}, "REQUIRED_FIELD_MISSING"),
        ({"LastName": "A", "Company": "B", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        (
            {"LastName": "A", "Company": "B", "SMS_Consent_Timestamp__c": "yesterday"},
            "JSON_PARSER_ERROR",
        ),
        ({"LastName": "A", "Company": "B", "OwnerId": "nope"}, "MALFORMED_ID"),
        ({"LastName": "A", "Company": "B", "Name": "A B"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ],
)
def test_validation_errors_are_salesforce_lists(
    sf: Salesforce, body: dict[str, Any], code: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        obj(sf, "Lead").create(body)
    assert caught.value.status == 400
    assert isinstance(content(caught), list)
    assert content(caught)[0]["errorCode"] == code


def test_exact_messages_for_the_common_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        obj(sf, "Lead").create({"LastName": "A", "Company": "B", "Foo__c": "x"})
    assert content(unknown)[0]["message"] == "No such column 'Foo__c' on sobject of type Lead"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        obj(sf, "Lead").create({"FirstName": "A"})
    assert content(missing)[0]["message"] == "Required fields are missing: [LastName, Company]"
    obj(sf, "Task").create({"SMS_Message_Id__c": "dup"})  # Task needs nothing else
    with pytest.raises(SalesforceMalformedRequest) as dup:
        obj(sf, "Task").create({"SMS_Message_Id__c": "dup"})
    assert content(dup)[0]["errorCode"] == "DUPLICATE_VALUE"
    bad_json = sf.session.post(
        f"{sf.base_url}sobjects/Lead/", data="{not json", headers=sf.headers, timeout=10
    )
    assert bad_json.status_code == 400
    assert bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert "Sforce-Limit-Info" in bad_json.headers


def test_query_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf.query("SELECT Id, Foo__c FROM Lead")
    assert content(field)[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as sobject:
        sf.query("SELECT Id FROM Nope__c")
    assert content(sobject)[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as syntax:
        sf.query("SELECT Id FROM Lead WHERE")
    assert content(syntax)[0]["errorCode"] == "MALFORMED_QUERY"


def test_modstamp_tie_break_pages_3000_rows_sharing_one_stamp(sb: Sandbox, sf: Salesforce) -> None:
    stamp = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    admin(sb, "clock", {"set": stamp.isoformat(), "freeze": True})
    for start in range(0, 3000, 200):
        rest(sf, UPSERT_TASKS, method="PATCH", json={"records": _tasks(200, start=start)})
    # a late commit: written now, stamped before the cursor's window
    late = admin(
        sb,
        "salesforce/records/Task",
        {"Subject": "late", "SystemModstamp": "2026-05-01T11:59:00.000Z"},
    )
    seen: list[str] = []
    cursor_id = ""
    pages = 0
    while True:
        page = sf.query(
            format_soql(
                "SELECT Id, SystemModstamp FROM Task WHERE (SystemModstamp = {ts} AND Id > {id})"
                " OR SystemModstamp > {ts} ORDER BY SystemModstamp, Id LIMIT 1000",
                ts=stamp,
                id=cursor_id,
            )
        )["records"]
        if not page:
            break
        pages += 1
        assert {r["SystemModstamp"] for r in page} == {"2026-05-01T12:00:00.000+0000"}
        seen.extend(r["Id"] for r in page)
        cursor_id = page[-1]["Id"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 3000
    lookback = sf.query(
        "SELECT Id FROM Task WHERE SystemModstamp >= 2026-05-01T11:55:00Z "
        "AND SystemModstamp < 2026-05-01T12:00:00Z"
    )["records"]
    assert [r["Id"] for r in lookback] == [late["Id"]]


def test_updated_deleted_and_query_all(sb: Sandbox, sf: Salesforce) -> None:
    start = sb.state.clock.now() - timedelta(minutes=1)
    ids = [obj(sf, "Contact").create({"LastName": f"C{i}"})["id"] for i in range(3)]
    obj(sf, "Contact").delete(ids[0])
    end = sb.state.clock.now() + timedelta(minutes=1)
    deleted = obj(sf, "Contact").deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [ids[0]]
    assert deleted["deletedRecords"][0]["deletedDate"].endswith("+0000")
    assert {"earliestDateAvailable", "latestDateCovered"} <= deleted.keys()
    assert obj(sf, "Contact").updated(start, end)["ids"] == ids[1:]
    live = sf.query("SELECT Id FROM Contact")
    assert live["totalSize"] == 2
    every = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)
    assert {r["Id"]: r["IsDeleted"] for r in every["records"]}[ids[0]] is True


def test_collections_create_update_retrieve_delete(sb: Sandbox, sf: Salesforce) -> None:
    made = rest(
        sf,
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Lead"}, "LastName": "L", "Company": "C"},
                {"attributes": {"type": "Contact"}, "LastName": "K"},
                {"attributes": {"type": "Contact"}, "FirstName": "no last name"},
            ],
        },
    )
    assert [r["success"] for r in made] == [True, True, False]
    assert _errors(made[2]) == ["REQUIRED_FIELD_MISSING"]
    lead_id, contact_id = made[0]["id"], made[1]["id"]
    updated = rest(
        sf,
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Lead"}, "id": lead_id, "State": "CA"}]},
    )
    assert updated == [{"id": lead_id, "success": True, "errors": []}]
    got = rest(sf, "composite/sobjects/Lead", params={"ids": lead_id, "fields": "Id,State"})
    assert got[0]["State"] == "CA"
    gone = rest(
        sf, "composite/sobjects", method="DELETE", params={"ids": f"{lead_id},{contact_id}"}
    )
    assert [r["success"] for r in gone] == [True, True]
    assert sb.state.stats.snapshot()["salesforce"]["records_written_by_object"] == {
        "Contact": 2,
        "Lead": 3,
    }


def test_all_or_none_rolls_back_the_good_records(sb: Sandbox, sf: Salesforce) -> None:
    records = _tasks(3)
    records[1]["Status"] = "Not a status"
    result = rest(sf, UPSERT_TASKS, method="PATCH", json={"allOrNone": True, "records": records})
    assert _errors(result[0]) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert _errors(result[1]) == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert _errors(result[2]) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0
    assert sb.state.stats.snapshot()["salesforce"]["records_written"] == 0


def test_more_than_200_records_are_rejected(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        rest(sf, UPSERT_TASKS, method="PATCH", json={"records": _tasks(201)})
    assert content(caught) == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
            "fields": [],
        }
    ]
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0


def test_per_record_fault_and_batch_conflict_fault(sb: Sandbox, sf: Salesforce) -> None:
    records = _tasks(3)
    bad_key = records[1]["SMS_Message_Id__c"]
    admin(
        sb,
        "faults/salesforce",
        {
            "record_errors": {
                bad_key: {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no"}
            }
        },
    )
    result = rest(sf, UPSERT_TASKS, method="PATCH", json={"records": records})
    assert [r["success"] for r in result] == [True, False, True]
    assert result[1]["errors"][0] == {
        "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "message": "no",
        "fields": [],
    }
    admin(sb, "faults/salesforce", {"batch_conflicts": 1})
    conflicted = rest(sf, UPSERT_TASKS, method="PATCH", json={"records": _tasks(3, prefix="X")})
    assert all(_errors(r) == ["UNABLE_TO_LOCK_ROW"] for r in conflicted)
    retried = rest(sf, UPSERT_TASKS, method="PATCH", json={"records": _tasks(3, prefix="X")})
    assert all(r["success"] for r in retried)
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 5


def _sub(ref: str, method: str, url: str, body: Any = None) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "method": method,
        "url": f"/services/data/v62.0/{url}",
        "referenceId": ref,
    }
    if body is not None:
        sub["body"] = body
    return sub


def test_composite_references_and_one_api_call(sb: Sandbox, sf: Salesforce) -> None:
    before = sb.state.stats.calls("salesforce")
    out = rest(
        sf,
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                _sub("lead", "POST", "sobjects/Lead", {"LastName": "R", "Company": "C"}),
                _sub(
                    "task",
                    "PATCH",
                    "sobjects/Task/SMS_Message_Id__c/SMref",
                    {"WhoId": "@{lead.id}", "Subject": "ref"},
                ),
                _sub("q", "GET", "query/?q=SELECT+Id,WhoId+FROM+Task"),
            ],
        },
    )
    responses = out["compositeResponse"]
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200]
    assert responses[2]["body"]["records"][0]["WhoId"] == responses[0]["body"]["id"]
    assert sb.state.stats.calls("salesforce") == before + 1
    assert sf.api_usage["api-usage"].used == 1  # composite is one call; logins are free


def test_composite_all_or_none_failure_halts_everything(sf: Salesforce) -> None:
    out = rest(
        sf,
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                _sub("a", "POST", "sobjects/Contact", {"LastName": "ok"}),
                _sub("b", "POST", "sobjects/Contact", {"Bogus__c": "x", "LastName": "x"}),
                _sub("c", "POST", "sobjects/Contact", {"LastName": "never"}),
            ],
        },
    )
    codes = [r["httpStatusCode"] for r in out["compositeResponse"]]
    assert codes == [400, 400, 400]
    bodies = [r["body"][0]["errorCode"] for r in out["compositeResponse"]]
    assert bodies == ["PROCESSING_HALTED", "INVALID_FIELD", "PROCESSING_HALTED"]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_composite_limits_25_subrequests_and_5_heavy(sf: Salesforce) -> None:
    reads = [_sub(f"r{i}", "GET", "sobjects/Lead/describe") for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest):
        rest(sf, "composite", method="POST", json={"compositeRequest": reads})
    queries = [_sub(f"q{i}", "GET", "query/?q=SELECT+Id+FROM+Lead") for i in range(6)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        rest(sf, "composite", method="POST", json={"compositeRequest": queries})
    assert "5" in content(caught)[0]["message"]
    ok = rest(sf, "composite", method="POST", json={"compositeRequest": queries[:5] + reads[:20]})
    assert len(ok["compositeResponse"]) == 25
