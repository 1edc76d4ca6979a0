"""Bulk API 2.0 query jobs for large reads (README, "Large orgs"; Salesforce's Bulk API
2.0 developer guide).

A first sync of a big org or a long outage reads tens of thousands of changed rows; REST
pages hold 2,000 each, one API call apiece, where a query job costs a create, a few polls
and one results call per `maxRecords` rows. The job runs the same SOQL as the REST pull
(same WHERE, same ORDER BY), so the puller merges, dedupes and advances its cursor on its
rows exactly as on REST pages.

Every call goes through `SalesforceApi.call` (the session, the refresh, the one retry
factory): a results page answered 5xx is asked again with the same locator, so no row is
lost or read twice. A job that ends `Failed` or `Aborted` is created again, at most
`JOB_ATTEMPTS` times; nothing was read from it.

CSV cells are text, and an empty cell is null (Bulk API 2.0 does not tell null from ""):
each is converted to the value REST's JSON would carry, by the field's describe type, so
a row reads the same by either path."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from functools import partial
from typing import Any

import structlog
from simple_salesforce.api import Salesforce

from connector.crm.salesforce.auth import TIMEOUT
from connector.crm.salesforce.http import SalesforceApi
from connector.crm.salesforce.mapping import parse_datetime
from connector.errors import FatalError, RetriableError

log = structlog.get_logger(__name__)

JOB_ATTEMPTS = 3  # a job that fails is created again this many times in all
POLL_FIRST_S = 0.2  # the first wait between polls; doubled up to POLL_MAX_S
POLL_MAX_S = 10.0
JOB_TIMEOUT_S = 3600.0  # a job still running after this is abandoned (aborted) and retried
# rows per results call. A page of CSV, its parsed rows and the pull's prefetched batches
# are held at once: at 10,000 a million-contact first pull peaked at 307 MB, at 5,000 it
# stays under 300 (README, "A large org"), for 200 results calls a million rows against
# 500 REST pages
MAX_RECORDS = 5_000
ACTIVE = frozenset({"UploadComplete", "InProgress"})
Row = dict[str, Any]
Convert = Callable[[str], Any]


def _bool(cell: str) -> bool:
    return cell.lower() == "true"


def _datetime(cell: str) -> str:
    """'2026-01-02T03:04:05.000Z' as REST writes it: '2026-01-02T03:04:05.000+0000'."""
    when = parse_datetime(cell)
    if when is None:
        return cell
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


_BY_TYPE: dict[str, Convert] = {
    "boolean": _bool,
    "datetime": _datetime,
    "double": float,
    "currency": float,
    "percent": float,
    "int": int,
    "long": int,
}


class BulkReader:
    """Runs one SOQL as a Bulk API 2.0 query job and yields its rows page by page."""

    def __init__(
        self,
        api: SalesforceApi,
        *,
        max_records: int = MAX_RECORDS,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.max_records = max_records
        self.sleep = sleep
        self.clock = clock
        self._types: dict[str, dict[str, Convert]] = {}

    # REST-shaped values -------------------------------------------------------------------
    def converters(self, object_name: str) -> dict[str, Convert]:
        """Field name -> how its CSV cell becomes the REST value (one describe per object)."""
        found = self._types.get(object_name)
        if found is None:
            body = self.api.restful("describe", f"sobjects/{object_name}/describe/")
            fields = body.get("fields") if isinstance(body, dict) else None
            found = {
                str(f["name"]): _BY_TYPE[f["type"]]
                for f in fields or []
                if isinstance(f, dict) and f.get("type") in _BY_TYPE
            }
            self._types[object_name] = found
        return found

    # the job ------------------------------------------------------------------------------
    def pages(self, object_name: str, soql: str) -> Iterator[list[Row]]:
        """The query's rows in its ORDER BY, one results page at a time."""
        convert = self.converters(object_name)
        job_id = self._completed_job(soql)
        locator = ""
        seen: set[str] = set()
        while True:
            text, following = self.api.call(
                "bulk_results", partial(self._results, job_id=job_id, locator=locator)
            )
            yield _rows(text, convert)
            if not following or following == "null":
                return
            if following in seen:  # docs/style.md, rule 12: a repeating token loops forever
                raise FatalError(f"Salesforce repeated the Bulk API locator {following}")
            seen.add(following)
            locator = following

    def _completed_job(self, soql: str) -> str:
        problem = ""
        for attempt in range(1, JOB_ATTEMPTS + 1):
            job = self.api.restful(
                "bulk_create",
                "jobs/query",
                method="POST",
                json={"operation": "query", "query": soql, "contentType": "CSV"},
            )
            job_id = str(job["id"])
            state, problem = self._wait(job_id)
            if state == "JobComplete":
                return job_id
            log.warning("salesforce.bulk_job_failed", job=job_id, state=state, attempt=attempt)
        raise RetriableError(
            f"Salesforce Bulk API query job failed {JOB_ATTEMPTS} times ({problem}); the next "
            "pull starts again from the saved cursor"
        )

    def _wait(self, job_id: str) -> tuple[str, str]:
        """Poll to a final state: (state, errorMessage); a job too slow is aborted."""
        wait, deadline = POLL_FIRST_S, self.clock() + JOB_TIMEOUT_S
        while True:
            info = self.api.restful("bulk_poll", f"jobs/query/{job_id}")
            state = str(info.get("state", ""))
            if state not in ACTIVE:
                return state, str(info.get("errorMessage") or state)
            if self.clock() > deadline:
                self.api.restful(
                    "bulk_abort", f"jobs/query/{job_id}", method="PATCH", json={"state": "Aborted"}
                )
                return "Aborted", f"still {state} after {JOB_TIMEOUT_S:.0f} s"
            self.sleep(wait)
            wait = min(wait * 2, POLL_MAX_S)

    def _results(self, sf: Salesforce, *, job_id: str, locator: str) -> tuple[str, str]:
        params: dict[str, Any] = {"maxRecords": self.max_records}
        if locator:
            params["locator"] = locator
        response = sf._call_salesforce(  # noqa: SLF001 - the session, auth and error table
            "GET",
            f"{sf.base_url}jobs/query/{job_id}/results",
            name="bulk_results",
            params=params,
            headers={"Accept": "text/csv"},
            timeout=TIMEOUT,
            verify=self.api.verify,
        )
        response.encoding = "utf-8"
        return response.text, response.headers.get("Sforce-Locator", "null")


def _rows(text: str, convert: dict[str, Convert]) -> list[Row]:
    """CSV (RFC 4180: quoted cells, doubled quotes, embedded newlines) as REST-like rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    rows: list[Row] = []
    for cells in reader:
        row: Row = {}
        for name, cell in zip(header, cells, strict=True):
            if cell == "":
                row[name] = None
                continue
            fn = convert.get(name)
            row[name] = fn(cell) if fn is not None else cell
        rows.append(row)
    return rows
