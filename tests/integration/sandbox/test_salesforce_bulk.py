"""Bulk API 2.0 query jobs on the Salesforce emulator, over real HTTPS with plain requests and
with simple-salesforce 1.12's `bulk2` unmodified: job states, CSV pages by `maxRecords` and
`Sforce-Locator`, the snapshot, the documented errors and limits, and the `bulk` fault knobs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, cast

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import SFBulk2Handler, SFBulk2Type
from simple_salesforce.exceptions import SalesforceOperationError
from simple_salesforce.format import format_soql

from connector.sandbox.salesforce import bulk as bulk_module
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.salesforce_fixtures import (
    API_VERSION,
    admin,
    connect,
    obj,
    rest,
    sandbox,
    sb,
    sf,
)

__all__ = ["sandbox", "sb", "sf"]

LEADS = (
    "SELECT Id, FirstName, LastName, MobilePhone, Email, SMS_SLA_Breached__c, LastActivityDate,"
    " SystemModstamp, Owner.Name FROM Lead ORDER BY SystemModstamp, Id"
)


class Bulk:
    """Plain requests against `/jobs/query`, authenticated like the REST calls."""

    def __init__(self, sb: Sandbox, sf: Salesforce, version: str = API_VERSION) -> None:
        self.session: requests.Session = sf.session
        self.base = f"{sb.urls['salesforce']}/services/data/v{version}/jobs/query"
        self.headers = {"Authorization": f"Bearer {sf.session_id}"}

    def request(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.base + path, headers=self.headers, timeout=30, **kwargs
        )

    def create(self, soql: str, **extra: Any) -> requests.Response:
        return self.request("POST", json={"operation": "query", "query": soql, **extra})

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def run(self, soql: str, **extra: Any) -> tuple[str, list[str]]:
        """Create a job and poll it to the end; (job id, the states the polls saw)."""
        created = self.create(soql, **extra)
        assert created.status_code == 200, created.text
        job_id: str = created.json()["id"]
        states = []
        for _ in range(50):
            states.append(self.job(job_id)["state"])
            if states[-1] not in {"UploadComplete", "InProgress"}:
                break
        return job_id, states

    def results(self, job_id: str, **params: Any) -> requests.Response:
        return self.request("GET", f"/{job_id}/results", params=params)

    def pages(self, job_id: str, max_records: int) -> Iterator[requests.Response]:
        locator = ""
        while True:
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            page = self.results(job_id, **params)
            assert page.status_code == 200, page.text
            yield page
            locator = page.headers["Sforce-Locator"]
            if locator == "null":
                return


def leads_bulk2(sf: Salesforce) -> SFBulk2Type:
    """`sf.bulk2.Lead`, typed (simple-salesforce's `__getattr__` returns a union)."""
    return cast("SFBulk2Handler", sf.bulk2).Lead


def rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def csv_value(value: Any) -> str:
    """A REST JSON value as Bulk API 2.0 writes it in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.endswith("+0000"):
        return value.removesuffix("+0000") + "Z"
    return str(value)


def rest_rows(sf: Salesforce, soql: str) -> list[dict[str, str]]:
    """The REST query's records, flattened the way Bulk CSV columns are."""
    out = []
    for record in sf.query_all(soql)["records"]:
        flat: dict[str, str] = {}
        for key, value in record.items():
            if key == "attributes":
                continue
            if isinstance(value, dict):
                for sub, leaf in value.items():
                    if sub != "attributes":
                        flat[f"{key}.{sub}"] = csv_value(leaf)
            else:
                flat[key] = csv_value(value)
        out.append(flat)
    return out


def is_error(response: requests.Response, status: int, code: str) -> str:
    """The Bulk error shape: a one-element list of {errorCode, message}; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert set(body[0]) == {"errorCode", "message"}
    assert body[0]["errorCode"] == code
    message: str = body[0]["message"]
    return message


def admin_get(sb: Sandbox, path: str) -> Any:
    response = requests.get(f"{sb.urls['admin']}/__sandbox/{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def test_a_job_pages_exactly_the_rest_query_by_locator(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(6000)
    bulk = Bulk(sb, sf)
    expected = rest_rows(sf, LEADS)
    assert len(expected) == 3000
    used_before = admin_get(sb, "salesforce/limits")["used"]
    created = bulk.create(LEADS)
    assert created.status_code == 200
    info = created.json()
    assert info["state"] == "UploadComplete"
    assert info["id"].startswith("750")
    assert len(info["id"]) == 18
    assert (info["object"], info["operation"], info["apiVersion"]) == ("Lead", "query", 62.0)
    assert (info["contentType"], info["lineEnding"], info["columnDelimiter"]) == (
        "CSV",
        "LF",
        "COMMA",
    )
    first = bulk.job(info["id"])
    assert (first["state"], first["numberRecordsProcessed"], first["jobType"]) == (
        "InProgress",
        0,
        "V2Query",
    )
    done = bulk.job(info["id"])
    assert done["state"] == "JobComplete"
    assert done["numberRecordsProcessed"] == 3000
    assert done["retries"] == 0
    assert "errorMessage" not in done

    pages = list(bulk.pages(info["id"], max_records=1000))
    assert [p.headers["Sforce-NumberOfRecords"] for p in pages] == ["1000"] * 3
    assert [p.headers["Sforce-Locator"] for p in pages][-1] == "null"
    assert len({p.headers["Sforce-Locator"] for p in pages}) == 3
    assert all(p.headers["Content-Type"].startswith("text/csv") for p in pages)
    assert all(p.text.startswith('"Id","FirstName","LastName","MobilePhone"') for p in pages)
    got = [row for p in pages for row in rows(p.text)]
    assert got == expected  # same records, same values, same order, none twice
    again = bulk.results(info["id"], maxRecords=1000, locator=pages[0].headers["Sforce-Locator"])
    assert again.content == pages[1].content  # a locator keeps naming its page

    calls = sb.state.stats.snapshot()["salesforce"]["calls_by_endpoint"]
    base = "/services/data/v62.0/jobs/query"
    assert calls[f"POST {base}"] == 1
    assert calls[f"GET {base}/{{id}}"] == 2
    assert calls[f"GET {base}/{{id}}/results"] == 4
    limits = admin_get(sb, "salesforce/limits")
    assert limits["used"] - used_before == 7  # every Bulk call is an API request
    assert again.headers["Sforce-Limit-Info"] == f"api-usage={limits['used']}/100000"


def test_simple_salesforce_bulk2_query_works_unmodified(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(2000)
    soql = "SELECT Id, LastName, SMS_Consent_Status__c FROM Lead"
    pages = list(leads_bulk2(sf).query(soql, max_records=300, wait=0))
    assert len(pages) == 4  # 1,000 Leads by 300
    got = [row for page in pages for row in rows(str(page))]
    assert got == rest_rows(sf, soql)
    gone = got[0]["Id"]
    obj(sf, "Lead").delete(gone)
    live = [r["Id"] for page in leads_bulk2(sf).query(soql, wait=0) for r in rows(str(page))]
    every = [r["Id"] for page in leads_bulk2(sf).query_all(soql, wait=0) for r in rows(str(page))]
    assert gone not in live
    assert gone in every
    assert len(every) == len(live) + 1


def test_csv_is_quoted_delimited_and_formatted_as_salesforce_writes_it(
    sb: Sandbox, sf: Salesforce
) -> None:
    lead = obj(sf, "Lead").create(
        {"FirstName": "Ann\nMarie", "LastName": 'O"Brien|Jr, "x"', "Company": "Acme"}
    )["id"]
    created = obj(sf, "Lead").get(lead)["CreatedDate"]
    soql = format_soql(
        "SELECT Id, FirstName, LastName, Email, SMS_SLA_Breached__c, CreatedDate FROM Lead"
        " WHERE Id = {}",
        lead,
    )
    bulk = Bulk(sb, sf)
    job_id, _ = bulk.run(soql, columnDelimiter="PIPE", lineEnding="CRLF")
    assert bulk.job(job_id)["columnDelimiter"] == "PIPE"
    page = bulk.results(job_id)
    stamp = created.removesuffix("+0000") + "Z"
    assert page.content.decode() == (
        '"Id"|"FirstName"|"LastName"|"Email"|"SMS_SLA_Breached__c"|"CreatedDate"\r\n'
        f'"{lead}"|"Ann\nMarie"|"O""Brien|Jr, ""x"""|""|"false"|"{stamp}"\r\n'
    )
    assert rows(page.content.decode(), delimiter="|")[0]["LastName"] == 'O"Brien|Jr, "x"'
    job_id, _ = bulk.run(soql)
    assert bulk.results(job_id).content.decode().splitlines()[1].startswith(f'"{lead}","Ann')


def test_results_are_the_snapshot_taken_when_the_job_completes(sb: Sandbox, sf: Salesforce) -> None:
    leads = obj(sf, "Lead")
    ids = [leads.create({"LastName": f"L{i}", "Company": "Acme"})["id"] for i in range(4)]
    leads.delete(ids[3])
    soql = "SELECT Id, LastName, IsDeleted FROM Lead ORDER BY LastName DESC"
    bulk = Bulk(sb, sf)
    job_id = bulk.create(soql).json()["id"]
    all_id = bulk.create(soql, operation="queryAll").json()["id"]
    leads.update(ids[0], {"LastName": "Changed before completion"})
    for job in (job_id, all_id):
        while bulk.job(job)["state"] != "JobComplete":
            pass
    leads.update(ids[1], {"LastName": "Changed after completion"})
    leads.delete(ids[2])
    names = [(r["Id"], r["LastName"]) for r in rows(bulk.results(job_id).text)]
    assert names == [(ids[2], "L2"), (ids[1], "L1"), (ids[0], "Changed before completion")]
    deleted = {r["Id"]: r["IsDeleted"] for r in rows(bulk.results(all_id).text)}
    assert deleted == {ids[3]: "true", ids[2]: "false", ids[1]: "false", ids[0]: "false"}


def test_a_query_the_org_no_longer_runs_fails_the_job(sb: Sandbox, sf: Salesforce) -> None:
    bulk = Bulk(sb, sf)
    job_id = bulk.create("SELECT Id, SMS_Disposition__c FROM Lead").json()["id"]
    admin(sb, "salesforce/schema", {"object": "Lead", "field": "SMS_Disposition__c", "drop": True})
    assert bulk.job(job_id)["state"] == "InProgress"
    failed = bulk.job(job_id)
    assert failed["state"] == "Failed"
    assert "INVALID_FIELD" in failed["errorMessage"]
    assert "SMS_Disposition__c" in failed["errorMessage"]


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"query": "SELECT Id FRM Lead"}, "MALFORMED_QUERY", "unexpected token"),
        ({"query": "SELECT Idx FROM Lead"}, "INVALID_FIELD", "No such column 'Idx'"),
        ({"query": "SELECT Id FROM Leed"}, "INVALID_TYPE", "sObject type 'Leed'"),
        ({"query": "SELECT COUNT() FROM Lead"}, "API_ERROR", "Aggregate queries"),
        ({"query": "SELECT Id FROM Lead LIMIT 5 OFFSET 5"}, "API_ERROR", "OFFSET"),
        ({"query": "SELECT Status FROM Lead GROUP BY Status"}, "API_ERROR", "GROUP BY"),
        (
            {"query": "SELECT Id, (SELECT Id FROM Tasks) FROM Lead"},
            "API_ERROR",
            "Aggregate Relationships",
        ),
        ({"operation": "insert"}, "API_ERROR", "operation must be query or queryAll"),
        ({"query": ""}, "API_ERROR", "query is required"),
        ({"contentType": "JSON"}, "API_ERROR", "contentType must be CSV"),
        ({"columnDelimiter": "DASH"}, "API_ERROR", "columnDelimiter must be one of"),
        ({"lineEnding": "CR"}, "API_ERROR", "lineEnding must be one of"),
        ({"object": "Lead"}, "API_ERROR", "Unrecognized field(s) object"),
    ],
)
def test_a_refused_job_is_a_400_in_the_bulk_error_shape_and_creates_nothing(
    sb: Sandbox, sf: Salesforce, body: dict[str, Any], code: str, says: str
) -> None:
    bulk = Bulk(sb, sf)
    response = bulk.request(
        "POST", json={"operation": "query", "query": "SELECT Id FROM Lead", **body}
    )
    assert says in is_error(response, 400, code)
    assert bulk.request("GET").json()["records"] == []
    assert admin_get(sb, "salesforce/limits")["bulk_used"] == 0


def test_job_errors_have_the_documented_codes(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(40)
    bulk = Bulk(sb, sf)
    unknown = "7508c0000000099AAA"
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/results")):
        is_error(
            bulk.request(method, f"/{unknown}{path}", json={"state": "Aborted"}), 404, "NOT_FOUND"
        )
    job_id = bulk.create("SELECT Id FROM Lead").json()["id"]
    says = is_error(bulk.results(job_id), 412, "JOB_NOT_COMPLETE")
    assert says.endswith("Current status: UPLOAD_COMPLETE")
    bulk.job(job_id)
    assert is_error(bulk.results(job_id), 412, "JOB_NOT_COMPLETE").endswith("IN_PROGRESS")
    is_error(bulk.request("DELETE", f"/{job_id}"), 400, "INVALIDJOBSTATE")
    assert bulk.job(job_id)["state"] == "JobComplete"
    first = bulk.results(job_id, maxRecords=5)
    assert first.headers["Sforce-NumberOfRecords"] == "5"
    never_issued = "OTk5"  # the locator form of an offset this job never handed out
    for locator in ("bogus!", "null", never_issued):
        is_error(bulk.results(job_id, locator=locator), 400, "INVALID_QUERY_LOCATOR")
    for bad in ("0", "-3", "ten"):
        is_error(bulk.results(job_id, maxRecords=bad), 400, "API_ERROR")
    is_error(Bulk(sb, sf, "61.0").results(job_id), 409, "INVALIDJOB")
    is_error(Bulk(sb, sf, "46.0").create("SELECT Id FROM Lead"), 404, "NOT_FOUND")
    is_error(bulk.request("PATCH", f"/{job_id}", json={"state": "Aborted"}), 400, "INVALIDJOBSTATE")


def test_composite_does_not_reach_the_bulk_resources(sf: Salesforce) -> None:
    sub = {"method": "GET", "url": f"/services/data/v{API_VERSION}/jobs/query", "referenceId": "j"}
    answer: Any = rest(sf, "composite", method="POST", json={"compositeRequest": [sub]})
    [only] = answer["compositeResponse"]
    assert only["httpStatusCode"] == 400
    assert only["body"][0]["errorCode"] == "INVALID_INPUT"


def test_abort_delete_and_list_jobs(
    sb: Sandbox, sf: Salesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = Bulk(sb, sf)
    ids = [
        bulk.create(format_soql("SELECT Id FROM Lead WHERE LastName = {}", f"x{i}")).json()["id"]
        for i in range(3)
    ]
    is_error(
        bulk.request("PATCH", f"/{ids[0]}", json={"state": "JobComplete"}), 400, "INVALIDJOBSTATE"
    )
    aborted = bulk.request("PATCH", f"/{ids[0]}", json={"state": "Aborted"})
    assert aborted.status_code == 200
    assert aborted.json()["state"] == "Aborted"
    assert "numberRecordsProcessed" not in aborted.json()
    assert bulk.job(ids[0])["state"] == "Aborted"  # polling no longer moves it
    assert is_error(bulk.results(ids[0]), 412, "JOB_NOT_COMPLETE").endswith("ABORTED")
    bulk.job(ids[1])
    assert bulk.request("PATCH", f"/{ids[1]}", json={"state": "Aborted"}).status_code == 200
    deleted = bulk.request("DELETE", f"/{ids[0]}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    is_error(bulk.request("GET", f"/{ids[0]}"), 404, "NOT_FOUND")

    listed = bulk.request("GET").json()
    assert (listed["done"], listed["nextRecordsUrl"]) == (True, None)
    assert [r["id"] for r in listed["records"]] == ids[1:]
    assert {r["jobType"] for r in listed["records"]} == {"V2Query"}
    assert "numberRecordsProcessed" not in listed["records"][0]
    assert bulk.request("GET", params={"jobType": "Classic"}).json()["records"] == []
    assert bulk.request("GET", params={"jobType": "V2Query"}).json()["records"] == listed["records"]
    monkeypatch.setattr(bulk_module, "LIST_PAGE", 1)
    head = bulk.request("GET").json()
    assert head["done"] is False
    url = f"{sb.urls['salesforce']}{head['nextRecordsUrl']}"
    tail = bulk.session.get(url, headers=bulk.headers, timeout=10).json()
    assert [r["id"] for r in head["records"] + tail["records"]] == ids[1:]
    assert tail["done"] is True


def test_fault_knob_fails_the_next_job(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(40)
    message = "InternalServerError : PK chunking failed"
    admin(
        sb, "faults/salesforce", {"bulk": {"fail_jobs": {"error_message": message, "retries": 2}}}
    )
    bulk = Bulk(sb, sf)
    job_id, states = bulk.run("SELECT Id FROM Lead")
    assert states == ["InProgress", "Failed"]
    failed = bulk.job(job_id)
    assert (failed["errorMessage"], failed["retries"], failed["numberRecordsProcessed"]) == (
        message,
        2,
        0,
    )
    assert is_error(bulk.results(job_id), 412, "JOB_NOT_COMPLETE").endswith("FAILED")
    _, states = bulk.run("SELECT Id FROM Lead")  # the knob is spent
    assert states == ["InProgress", "JobComplete"]
    admin(sb, "faults/salesforce", {"bulk": {"fail_jobs": {"error_message": message}}})
    with pytest.raises(SalesforceOperationError, match="PK chunking failed"):
        list(leads_bulk2(sf).query("SELECT Id FROM Lead", wait=0))
    faults = sb.state.stats.snapshot()["salesforce"]["faults_injected"]
    assert faults == {"bulk_job_failed": 2}


def test_fault_knob_fails_one_results_page_once(sb: Sandbox, sf: Salesforce) -> None:
    sb.seed(600)
    admin(sb, "faults/salesforce", {"bulk": {"page_errors": [{"page": 1, "status": 503}]}})
    bulk = Bulk(sb, sf)
    job_id, _ = bulk.run("SELECT Id FROM Lead ORDER BY Id")
    page0 = bulk.results(job_id, maxRecords=100)
    locator = page0.headers["Sforce-Locator"]
    assert "injected" in is_error(
        bulk.results(job_id, maxRecords=100, locator=locator), 503, "SERVER_UNAVAILABLE"
    )
    page1 = bulk.results(job_id, maxRecords=100, locator=locator)
    assert page1.status_code == 200
    rest = list(bulk.pages(job_id, max_records=100))
    got = [r["Id"] for p in [page0, page1] for r in rows(p.text)]
    assert got == [r["Id"] for r in rows(rest[0].text) + rows(rest[1].text)]
    everything = [r["Id"] for p in rest for r in rows(p.text)]
    assert everything == [r["Id"] for r in rest_rows(sf, "SELECT Id FROM Lead ORDER BY Id")]
    stats = sb.state.stats.snapshot()["salesforce"]
    assert stats["faults_injected"] == {"bulk_page_error": 1}
    assert stats["errors_by_status"] == {"503": 1}


def test_fault_knobs_slow_the_job_down_by_polls_and_by_the_sandbox_clock(
    sb: Sandbox, sf: Salesforce
) -> None:
    bulk = Bulk(sb, sf)
    admin(sb, "faults/salesforce", {"bulk": {"extra_polls": 3}})
    _, states = bulk.run("SELECT Id FROM Lead")
    assert states == ["InProgress"] * 4 + ["JobComplete"]
    admin(sb, "faults/salesforce", {"bulk": {"processing_s": 60}})
    job_id = bulk.create("SELECT Id FROM Lead").json()["id"]
    assert [bulk.job(job_id)["state"] for _ in range(5)] == ["InProgress"] * 5
    admin(sb, "clock", {"advance_s": 61})
    done = bulk.job(job_id)
    assert done["state"] == "JobComplete"
    assert done["totalProcessingTime"] >= 60_000


def test_daily_job_allocation_and_retention(sb: Sandbox, sf: Salesforce) -> None:
    def remaining(client: Salesforce) -> int:
        limits: dict[str, Any] = client.limits()
        value: int = limits["DailyBulkV2QueryJobs"]["Remaining"]
        return value

    bulk = Bulk(sb, sf)
    assert remaining(sf) == 10_000
    job_id = bulk.create("SELECT Id FROM Lead").json()["id"]
    assert remaining(sf) == 9_999
    refused = requests.post(
        f"{sb.urls['admin']}/__sandbox/salesforce/limits",
        json={"used": 50, "bulk_used": "many"},
        timeout=10,
    )
    assert refused.status_code == 400
    assert admin_get(sb, "salesforce/limits")["bulk_used"] == 1  # nothing was applied
    assert admin_get(sb, "salesforce/limits")["used"] < 50
    admin(sb, "salesforce/limits", {"bulk_used": 10_000})
    says = is_error(bulk.create("SELECT Id FROM Lead"), 400, "LIMIT_EXCEEDED")
    assert says.startswith("Max bulk v2 query jobs (10000) per 24 hrs has been reached")
    assert remaining(sf) == 0
    assert bulk.job(job_id)["state"] == "InProgress"
    admin(sb, "clock", {"advance_s": 7 * 86400 + 1})
    later = connect(sb)  # the session expired meanwhile
    is_error(Bulk(sb, later).request("GET", f"/{job_id}"), 404, "NOT_FOUND")
    assert remaining(later) == 10_000  # a rolling day
