"""Bulk API 2.0 query below `/services/data/vNN.N/jobs/query` (API 47.0 and later), as
Salesforce documents it: create a job, poll it, stream its CSV results by `maxRecords` and
`Sforce-Locator` (the string "null" after the last page), abort, delete and list jobs.

Every call is a REST call to the org, so the emulator counts it against the daily API
allocation and stamps `Sforce-Limit-Info` like any other. Jobs created count against
`DailyBulkV2QueryJobs` (10,000 a rolling day); a job and its results are kept 7 days.
Errors use the `[{"errorCode", "message"}]` shape; the HTTP codes are the documented ones
(412 for results of an unfinished job, 409 for results asked under another API version)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.salesforce.api import Call, DataApi, Handler, Reply, error
from connector.sandbox.salesforce.bulk_jobs import (
    ACTIVE,
    DELIMITERS,
    LINE_ENDINGS,
    QueryJob,
    decode_locator,
    encode_locator,
    unsupported,
)
from connector.sandbox.salesforce.soql import parse
from connector.sandbox.salesforce.store import make_id

VENDOR = "salesforce"
MIN_VERSION = 47
DEFAULT_MAX_RECORDS = 50_000  # a results page when `maxRecords` is not given
LIST_PAGE = 1000  # jobs per page of the job list
RETENTION = timedelta(days=7)
_CREATE_KEYS = frozenset({"operation", "query", "contentType", "columnDelimiter", "lineEnding"})
_SCREAMING = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _api_error(message: str) -> Reply:
    return error(400, "API_ERROR", message)


class BulkQueryApi:
    """The query-job handlers over the REST API's store, evaluator, clock and faults."""

    def __init__(self, api: DataApi) -> None:
        self.api = api
        self.jobs: dict[str, QueryJob] = {}
        self._serial = 0

    def routes(self) -> list[tuple[str, str, Handler]]:
        job = r"jobs/query/(?P<job>[^/]+)"
        return [
            ("POST", r"jobs/query", self._gated(self.create)),
            ("GET", r"jobs/query", self._gated(self.list_jobs)),
            ("GET", job, self._gated(self.get_job)),
            ("PATCH", job, self._gated(self.abort)),
            ("DELETE", job, self._gated(self.delete)),
            ("GET", job + r"/results", self._gated(self.results)),
        ]

    @staticmethod
    def _gated(handler: Handler) -> Handler:
        """The resource exists from API 47.0 on."""

        def gated(call: Call, m: re.Match[str]) -> Reply:
            if _major(call.version) < MIN_VERSION:
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            return handler(call, m)

        return gated

    # helpers -----------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.api.state.clock.now()

    def _job(self, job_id: str) -> QueryJob | None:
        job = self.jobs.get(job_id)
        if job is not None and self._now() - job.created > RETENTION:
            del self.jobs[job_id]
            return None
        return job

    def _find(self, m: re.Match[str], then: Callable[[QueryJob], Reply]) -> Reply:
        job = self._job(m["job"])
        if job is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return then(job)

    # handlers ----------------------------------------------------------------------------
    def create(self, call: Call, _: re.Match[str]) -> Reply:
        body = call.json()
        if not isinstance(body, dict):
            return _api_error("The request body must be a JSON object")
        problem = _create_problem(body)
        if problem is not None:
            return _api_error(problem)
        now = self._now()
        quota = self.api.bulk_query_jobs
        if quota.exhausted(now):
            return error(
                400,
                "LIMIT_EXCEEDED",
                f"Max bulk v2 query jobs ({quota.daily_max}) per 24 hrs has been reached "
                f"({quota.used(now) + 1})",
            )
        text: str = body["query"]
        reason = unsupported(text)
        if reason is not None:
            return _api_error(reason)
        query = parse(text)
        columns = self.api.evaluator.check(query)
        faults, stats = self.api.state.faults, self.api.state.stats
        extra_polls, processing_s = faults.bulk_slowness(VENDOR)
        failure = faults.take_bulk_failure(VENDOR)
        if failure is not None:
            stats.fault(VENDOR, "bulk_job_failed")
        self._serial += 1
        job = QueryJob(
            id=make_id("750", self._serial),
            operation=body["operation"],
            query=query,
            columns=columns,
            object_name=self.api.sobject(query.sobject).name,
            version=call.version,
            created_by=self.api.writer.user_id,
            created=now,
            delimiter=body.get("columnDelimiter", "COMMA"),
            line_ending=body.get("lineEnding", "LF"),
            in_progress_polls=1 + extra_polls,
            ready_at=now + timedelta(seconds=processing_s),
            failure=failure,
        )
        self.jobs[job.id] = job
        quota.count(now)
        return Reply(200, job.info(form="create"))

    def get_job(self, _call: Call, m: re.Match[str]) -> Reply:
        def poll(job: QueryJob) -> Reply:
            now = self._now()
            if job.poll(now):
                job.finish(now, self.api.evaluator, self.api.store)
            return Reply(200, job.info())

        return self._find(m, poll)

    def abort(self, call: Call, m: re.Match[str]) -> Reply:
        body = call.json()

        def abort(job: QueryJob) -> Reply:
            if not isinstance(body, dict) or body.get("state") != "Aborted":
                return error(
                    400, "INVALIDJOBSTATE", 'A query job can only be set to {"state": "Aborted"}'
                )
            if job.state not in ACTIVE:
                return error(
                    400,
                    "INVALIDJOBSTATE",
                    f"Aborting a job in state {job.state} is not allowed; only UploadComplete "
                    "or InProgress jobs can be aborted",
                )
            job.state = "Aborted"
            job.modstamp = self._now()
            return Reply(200, job.info(form="abort"))

        return self._find(m, abort)

    def delete(self, _call: Call, m: re.Match[str]) -> Reply:
        def delete(job: QueryJob) -> Reply:
            if job.state == "InProgress":
                return error(
                    400,
                    "INVALIDJOBSTATE",
                    "Deleting a job in state InProgress is not allowed; abort it first",
                )
            del self.jobs[job.id]
            return Reply(204)

        return self._find(m, delete)

    def results(self, call: Call, m: re.Match[str]) -> Reply:
        return self._find(m, lambda job: self._results(call, job))

    def _results(self, call: Call, job: QueryJob) -> Reply:
        if call.version != job.version:
            return error(
                409,
                "INVALIDJOB",
                f"Job {job.id} was created with API version {job.version}; get its results "
                "with the same version",
            )
        if job.state != "JobComplete":
            current = _SCREAMING.sub("_", job.state).upper()
            return error(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with "
                f"status: JOB_COMPLETE. Current status: {current}",
            )
        raw_max = call.params.get("maxRecords")
        size = DEFAULT_MAX_RECORDS
        if raw_max is not None:
            if not raw_max.isdigit() or int(raw_max) < 1:
                return _api_error(f"maxRecords must be a positive integer, not {raw_max!r}")
            size = int(raw_max)
        offset, page = 0, 0
        locator = call.params.get("locator")
        if locator:
            decoded = decode_locator(locator)
            if decoded is None or decoded not in job.pages:
                return error(400, "INVALID_QUERY_LOCATOR", f"invalid query locator: {locator}")
            offset, page = decoded, job.pages[decoded]
        status = self.api.state.faults.take_bulk_page_error(VENDOR, page)
        if status is not None:
            self.api.state.stats.fault(VENDOR, "bulk_page_error")
            return error(status, "SERVER_UNAVAILABLE", "injected results page error; retry")
        end = min(offset + size, len(job.rows))
        following = "null"
        if end < len(job.rows):
            job.page_of(end)
            following = encode_locator(end)
        headers = {
            "Content-Type": "text/csv",
            "Sforce-Locator": following,
            "Sforce-NumberOfRecords": str(end - offset),
        }
        return Reply(200, job.csv(offset, end), headers)

    def list_jobs(self, call: Call, _: re.Match[str]) -> Reply:
        params = call.params
        jobs = [j for j in list(self.jobs) if self._job(j) is not None]
        wanted = params.get("jobType")
        if wanted not in (None, "V2Query") or params.get("isPkChunkingEnabled") == "true":
            jobs = []  # only Bulk API 2.0 query jobs live here, and they never PK-chunk
        mode = params.get("concurrencyMode")
        if mode is not None and mode.lower() != "parallel":
            jobs = []
        start = 0
        if params.get("queryLocator"):
            decoded = decode_locator(params["queryLocator"])
            if decoded is None:
                return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            start = decoded
        chunk = jobs[start : start + LIST_PAGE]
        body: dict[str, Any] = {
            "done": start + LIST_PAGE >= len(jobs),
            "records": [self.jobs[j].info(form="list") for j in chunk],
            "nextRecordsUrl": None,
        }
        if not body["done"]:
            locator = encode_locator(start + LIST_PAGE)
            body["nextRecordsUrl"] = (
                f"/services/data/v{call.version}/jobs/query?queryLocator={locator}"
            )
        return Reply(200, body)


def _create_problem(body: dict[str, Any]) -> str | None:
    unknown = sorted(set(body) - _CREATE_KEYS)
    if unknown:
        takes = ", ".join(sorted(_CREATE_KEYS))
        return f"Unrecognized field(s) {', '.join(unknown)}; a query job takes {takes}"
    if body.get("operation") not in ("query", "queryAll"):
        return f"operation must be query or queryAll, not {body.get('operation')!r}"
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        return "query is required: the SOQL the job runs"
    if body.get("contentType", "CSV") != "CSV":
        return f"contentType must be CSV, not {body.get('contentType')!r}"
    for key, allowed in (("columnDelimiter", DELIMITERS), ("lineEnding", LINE_ENDINGS)):
        if key in body and body[key] not in allowed:
            return f"{key} must be one of {', '.join(allowed)}, not {body[key]!r}"
    return None


def _major(version: str) -> int:
    head = version.partition(".")[0]
    return int(head) if head.isdigit() else 0
