"""The Salesforce pipeline objects driven by simple-salesforce, unmodified, over real HTTPS:
describe, SOQL paging over Opportunity, OpportunityContactRole and the stage history, the
history rows stage changes write (stamped with the sandbox clock), and the org's limits."""

# ruff: noqa: S608 - these tests build SOQL from ids the sandbox returned

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connector.sandbox.seed import generate
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

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _records(sf: Salesforce, soql: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = sf.query_all(soql)["records"]
    return out


def _opportunity(sf: Salesforce, **values: Any) -> str:
    body = {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-04-30"}
    made = obj(sf, "Opportunity").create({**body, **values})
    return str(made["id"])


def test_describe_matches_the_standard_pipeline_objects(sf: Salesforce) -> None:
    opp = obj(sf, "Opportunity").describe()
    fields = {f["name"]: f for f in opp["fields"]}
    assert [v["value"] for v in fields["StageName"]["picklistValues"]] == STAGES
    assert fields["StageName"]["type"] == "picklist"
    assert fields["StageName"]["nillable"] is False
    assert (fields["Amount"]["type"], fields["Amount"]["soapType"]) == ("currency", "xsd:double")
    assert (fields["Amount"]["precision"], fields["Amount"]["scale"]) == (18, 2)
    assert fields["Probability"]["type"] == "percent"
    assert fields["CloseDate"]["type"] == "date"
    for derived in ("IsClosed", "IsWon", "ForecastCategory", "ExpectedRevenue"):
        assert (fields[derived]["createable"], fields[derived]["updateable"]) == (False, False)
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert {"CreatedDate", "SystemModstamp", "LastModifiedDate"} <= set(fields)

    role = {f["name"]: f for f in obj(sf, "OpportunityContactRole").describe()["fields"]}
    assert (role["OpportunityId"]["createable"], role["OpportunityId"]["updateable"]) == (
        True,
        False,
    )
    assert role["ContactId"]["referenceTo"] == ["Contact"]
    assert "Decision Maker" in [v["value"] for v in role["Role"]["picklistValues"]]

    history = obj(sf, "OpportunityHistory").describe()
    assert (history["createable"], history["updateable"], history["queryable"]) == (
        False,
        False,
        True,
    )
    history_fields = {f["name"] for f in history["fields"]}
    assert {"StageName", "Amount", "CloseDate", "PrevAmount", "SystemModstamp"} <= history_fields
    assert "LastModifiedDate" not in history_fields
    field_history = {f["name"] for f in obj(sf, "OpportunityFieldHistory").describe()["fields"]}
    assert {"Field", "OldValue", "NewValue", "CreatedDate", "OpportunityId"} <= field_history
    assert "SystemModstamp" not in field_history
    stages = _records(
        sf, "SELECT ApiName, IsClosed, IsWon FROM OpportunityStage ORDER BY SortOrder"
    )
    assert [s["ApiName"] for s in stages] == STAGES
    assert [s["ApiName"] for s in stages if s["IsWon"]] == ["Closed Won"]
    assert [s["ApiName"] for s in stages if s["IsClosed"]] == ["Closed Won", "Closed Lost"]


def test_stage_changes_write_history_at_the_sandbox_clock(sb: Sandbox, sf: Salesforce) -> None:
    sb.state.clock.set(T0, freeze=True)
    opp_id = _opportunity(sf, Amount=1000)
    sb.state.clock.advance(3600)
    obj(sf, "Opportunity").update(opp_id, {"StageName": "Qualification"})
    sb.state.clock.advance(3600)
    obj(sf, "Opportunity").update(opp_id, {"Amount": 2500})
    sb.state.clock.advance(3600)
    obj(sf, "Opportunity").update(opp_id, {"NextStep": "send the quote"})  # not history
    sb.state.clock.advance(3600)
    obj(sf, "Opportunity").update(opp_id, {"StageName": "Closed Won"})

    won = obj(sf, "Opportunity").get(opp_id)
    assert (won["IsClosed"], won["IsWon"], won["Probability"]) == (True, True, 100.0)
    assert (won["ForecastCategory"], won["ExpectedRevenue"]) == ("Closed", 2500.0)
    assert won["SystemModstamp"] == _at(4)

    history = _records(
        sf,
        "SELECT StageName, Amount, PrevAmount, Probability, CreatedDate, SystemModstamp "
        f"FROM OpportunityHistory WHERE OpportunityId = '{opp_id}' ORDER BY CreatedDate",
    )
    assert [(h["StageName"], h["CreatedDate"]) for h in history] == [
        ("Prospecting", _at(0)),
        ("Qualification", _at(1)),
        ("Qualification", _at(2)),
        ("Closed Won", _at(4)),
    ]
    assert [h["Amount"] for h in history] == [1000.0, 1000.0, 2500.0, 2500.0]
    assert [h["PrevAmount"] for h in history] == [None, 1000.0, 1000.0, 2500.0]
    assert [h["Probability"] for h in history] == [10.0, 10.0, 10.0, 100.0]

    changes = _records(
        sf,
        "SELECT Field, OldValue, NewValue, CreatedDate FROM OpportunityFieldHistory "
        f"WHERE OpportunityId = '{opp_id}' ORDER BY CreatedDate",
    )
    assert [(c["Field"], c["OldValue"], c["NewValue"], c["CreatedDate"]) for c in changes] == [
        ("created", None, None, _at(0)),
        ("StageName", "Prospecting", "Qualification", _at(1)),
        ("Amount", 1000.0, 2500.0, _at(2)),
        ("StageName", "Qualification", "Closed Won", _at(4)),
    ]

    # an incremental pull's window on SystemModstamp, with the opportunity named in an IN list
    window = _records(
        sf,
        f"SELECT StageName FROM OpportunityHistory WHERE SystemModstamp > {_at(0.5)} "
        f"AND SystemModstamp <= {_at(2)} AND OpportunityId IN ('{opp_id}', '006000000000000AAA')",
    )
    assert [w["StageName"] for w in window] == ["Qualification", "Qualification"]
    lost = _records(sf, "SELECT Id FROM Opportunity WHERE IsWon = true AND Amount > 2000")
    assert [r["Id"] for r in lost] == [opp_id]


def test_derived_fields_refuse_writes_and_stage_defaults_yield_to_given_values(
    sb: Sandbox, sf: Salesforce
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _opportunity(sf, IsWon=True)
    assert content(caught)[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as bad_stage:
        _opportunity(sf, StageName="Won")
    assert content(bad_stage)[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        obj(sf, "Opportunity").create({"Name": "No stage", "CloseDate": "2026-04-30"})
    assert content(missing)[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as not_money:
        _opportunity(sf, Amount="lots")
    assert content(not_money)[0]["errorCode"] == "JSON_PARSER_ERROR"

    opp_id = _opportunity(sf, Amount="1200.456", Probability=35)
    got = obj(sf, "Opportunity").get(opp_id)
    assert (got["Amount"], got["Probability"], got["ExpectedRevenue"]) == (1200.46, 35.0, 420.16)
    obj(sf, "Opportunity").update(opp_id, {"StageName": "Value Proposition"})
    assert obj(sf, "Opportunity").get(opp_id)["Probability"] == 50.0
    obj(sf, "Opportunity").update(opp_id, {"StageName": "Negotiation/Review", "Probability": 80})
    moved = obj(sf, "Opportunity").get(opp_id)
    assert (moved["Probability"], moved["ForecastCategoryName"]) == (80.0, "Pipeline")
    obj(sf, "Opportunity").update(opp_id, {"StageName": "Closed Lost"})
    lost = obj(sf, "Opportunity").get(opp_id)
    assert (lost["IsClosed"], lost["IsWon"], lost["ForecastCategory"]) == (True, False, "Omitted")


def test_contact_roles_keep_one_primary_and_go_with_their_opportunity(
    sb: Sandbox, sf: Salesforce
) -> None:
    sb.seed(6)
    contacts = [r["Id"] for r in _records(sf, "SELECT Id FROM Contact ORDER BY Id")]
    lead = _records(sf, "SELECT Id FROM Lead LIMIT 1")[0]["Id"]
    opp_id = _opportunity(sf)
    roles = obj(sf, "OpportunityContactRole")
    first = roles.create(
        {"OpportunityId": opp_id, "ContactId": contacts[0], "IsPrimary": True, "Role": "Evaluator"}
    )["id"]
    roles.create({"OpportunityId": opp_id, "ContactId": contacts[1], "IsPrimary": True})
    primary = _records(
        sf,
        "SELECT ContactId, Contact.Email, Opportunity.StageName FROM OpportunityContactRole "
        f"WHERE OpportunityId IN ('{opp_id}') AND IsPrimary = true",
    )
    assert [p["ContactId"] for p in primary] == [contacts[1]]
    assert primary[0]["Opportunity"]["StageName"] == "Prospecting"
    assert primary[0]["Contact"]["Email"].endswith("@example.org")
    assert roles.get(first)["IsPrimary"] is False

    with pytest.raises(SalesforceMalformedRequest) as moved:
        roles.update(first, {"OpportunityId": _opportunity(sf, Name="Other")})
    assert content(moved)[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as not_contact:
        roles.create({"OpportunityId": opp_id, "ContactId": lead})
    assert content(not_contact)[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

    obj(sf, "Opportunity").delete(opp_id)
    gone = f"FROM OpportunityContactRole WHERE OpportunityId = '{opp_id}'"
    assert sf.query(f"SELECT COUNT() {gone}")["totalSize"] == 0
    assert sf.query_all(f"SELECT Id, IsDeleted {gone}", include_deleted=True)["totalSize"] == 2
    history = f"FROM OpportunityHistory WHERE OpportunityId = '{opp_id}'"
    assert sf.query(f"SELECT COUNT() {history}")["totalSize"] == 0


def test_seeded_pipeline_pages_like_every_object(sb: Sandbox, sf: Salesforce) -> None:
    seeded = sb.seed(1000, seed=4, deal_share=0.6)["salesforce"]
    deals = generate(1000, seed=4, deal_share=0.6).deals
    assert seeded["Opportunity"] == len(deals)
    assert seeded["OpportunityContactRole"] == sum(len(d.contacts) for d in deals)

    soql = (
        "SELECT Id, OpportunityId, StageName, CreatedDate FROM OpportunityHistory "
        "ORDER BY SystemModstamp, Id"
    )
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["done"] is False
    assert len(first["records"]) == 200
    assert first["totalSize"] == sum(len(d.stages) for d in deals)  # one row per stage
    rows = list(first["records"])
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        rows.extend(page["records"])
    assert len({r["Id"] for r in rows}) == first["totalSize"]

    opps = {o["Id"]: o for o in _records(sf, "SELECT Id, StageName, CreatedDate FROM Opportunity")}
    by_opp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_opp[row["OpportunityId"]].append(row)
    assert set(by_opp) == set(opps)
    for opp_id, moves in by_opp.items():
        moves.sort(key=lambda r: r["CreatedDate"])
        assert moves[0]["CreatedDate"] == opps[opp_id]["CreatedDate"]
        assert moves[-1]["StageName"] == opps[opp_id]["StageName"]
    stage_counts = Counter(o["StageName"] for o in opps.values())
    assert stage_counts["Closed Won"] == sum(d.stage == "won" for d in deals)

    roles = _records(sf, "SELECT OpportunityId, IsPrimary FROM OpportunityContactRole")
    primaries = Counter(r["OpportunityId"] for r in roles if r["IsPrimary"])
    assert set(primaries) == set(opps)
    assert set(primaries.values()) == {1}
    calls = sb.state.stats.snapshot()["salesforce"]["calls_by_endpoint"]
    more = sum(n for k, n in calls.items() if k.startswith("GET /services/data/v62.0/query/01g"))
    assert more == -(-first["totalSize"] // 200) - 1


def test_paging_and_writing_past_the_orgs_limits_gets_its_errors(
    sb: Sandbox, sf: Salesforce
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as offset:
        sf.query("SELECT Id FROM Opportunity ORDER BY Id LIMIT 10 OFFSET 2001")
    assert content(offset)[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert sf.query("SELECT Id FROM Opportunity LIMIT 10 OFFSET 2000")["totalSize"] == 0
    with pytest.raises(SalesforceMalformedRequest) as locator:
        sf.query_more("01gDOESNOTEXIST-2000")
    assert content(locator)[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    with pytest.raises(SalesforceMalformedRequest) as quoted:
        sf.query("SELECT Id FROM Opportunity WHERE Amount > '5'")
    assert content(quoted)[0]["errorCode"] == "INVALID_FIELD"
    assert "must be of type double" in content(quoted)[0]["message"]

    ids = ", ".join(f"'006{i:015d}'" for i in range(800))  # ~16.8 KB of URI
    used = admin(sb, "salesforce/limits")["used"]
    with pytest.raises(SalesforceGeneralError) as too_long:
        sf.query(f"SELECT Id FROM OpportunityContactRole WHERE OpportunityId IN ({ids})")
    assert too_long.value.status == 414
    assert admin(sb, "salesforce/limits")["used"] == used  # refused before the API counts it
    short = ", ".join(f"'006{i:015d}'" for i in range(500))
    assert sf.query(f"SELECT Id FROM OpportunityContactRole WHERE OpportunityId IN ({short})")

    with pytest.raises(SalesforceMalformedRequest) as read_only:
        rest(sf, "sobjects/OpportunityHistory", method="POST", json={"StageName": "Closed Won"})
    assert content(read_only)[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"

    admin(sb, "salesforce/limits", {"daily_max": 5, "used": 5})
    with pytest.raises(SalesforceRefusedRequest) as daily:
        sf.query("SELECT Id FROM OpportunityHistory")
    assert content(daily)[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert content(daily)[0]["message"] == "TotalRequests Limit exceeded."


def test_faults_and_stats_cover_the_pipeline_endpoints(sb: Sandbox, sf: Salesforce) -> None:
    opp_id = _opportunity(sf)
    other_id = _opportunity(sf, Name="Globex expansion")
    admin(
        sb,
        "faults/salesforce",
        {
            "throttle": {"count": 1},
            "record_errors": {opp_id: {"code": "UNABLE_TO_LOCK_ROW", "message": "locked"}},
        },
    )
    with pytest.raises(SalesforceRefusedRequest) as storm:
        sf.query("SELECT Id FROM OpportunityHistory")
    assert content(storm)[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."

    results = rest(
        sf,
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Opportunity"}, "id": opp_id, "StageName": "Closed Won"},
                {"attributes": {"type": "Opportunity"}, "id": other_id, "StageName": "Closed Won"},
            ],
        },
    )
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert obj(sf, "Opportunity").get(opp_id)["StageName"] == "Prospecting"
    obj(sf, "OpportunityHistory").describe()

    stats = sb.state.stats.snapshot()["salesforce"]
    calls = stats["calls_by_endpoint"]
    assert calls["GET /services/data/v62.0/sobjects/OpportunityHistory/describe"] == 1
    assert calls["POST /services/data/v62.0/sobjects/Opportunity/"] == 2
    assert calls["GET /services/data/v62.0/sobjects/Opportunity/{id}"] == 1
    assert stats["faults_injected"] == {"throttle": 1, "record_error": 1}
    assert stats["errors_by_status"] == {"403": 1}
    # two inserts and one stage change, with the history rows the org wrote for them
    assert stats["records_written_by_object"] == {
        "Opportunity": 3,
        "OpportunityHistory": 3,
        "OpportunityFieldHistory": 3,
    }
