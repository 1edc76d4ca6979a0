"""The REST data API below `/services/data/vNN.N/`, as a transport-free router.

Handlers take a `Call` and give a `Reply`, so `/composite` can run its subrequests through
exactly the code the HTTP routes use."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.core import SandboxState
from connector.sandbox.salesforce.limits import DailyLimit
from connector.sandbox.salesforce.schema import ObjectDef, find_object
from connector.sandbox.salesforce.soql import SoqlError, parse
from connector.sandbox.salesforce.soql_eval import Evaluator, Result, attributes
from connector.sandbox.salesforce.store import Store, format_datetime, looks_like_id, to_wire
from connector.sandbox.salesforce.writes import (
    RecordFailureError,
    Writer,
    not_found,
    parse_datetime,
)

_NO_BODY = object()
DEFAULT_BATCH = 2000
MAX_CURSORS = 500
BULK_QUERY_JOBS_DAILY = 10_000


class BadJsonError(Exception):
    pass


@dataclass(slots=True)
class Call:
    method: str
    path: str  # below the version prefix, no leading or trailing slash
    version: str  # "62.0"
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    parsed: Any = _NO_BODY

    def json(self) -> Any:
        if self.parsed is _NO_BODY:
            try:
                self.parsed = json.loads(self.raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadJsonError(str(exc)) from exc
        return self.parsed


@dataclass(slots=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, [{"message": message, "errorCode": code}])


def failure(exc: RecordFailureError) -> Reply:
    return Reply(exc.status, exc.rest_body())


Handler = Callable[[Call, re.Match[str]], Reply]


@dataclass(slots=True)
class _Cursor:
    result: Result
    version: str
    batch: int
    endpoint: str  # query | queryAll


class DataApi:
    """The route table and its handlers over the schema, store and writer."""

    def __init__(
        self,
        state: SandboxState,
        schema: dict[str, ObjectDef],
        store: Store,
        writer: Writer,
        limits: DailyLimit,
    ) -> None:
        self.state = state
        self.schema = schema
        self.store = store
        self.writer = writer
        self.limits = limits
        self.bulk_query_jobs = DailyLimit(BULK_QUERY_JOBS_DAILY)  # counted by `bulk.py`
        self.evaluator = Evaluator(schema, store)
        self.cursors: dict[str, _Cursor] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"\Z"), handler))

    def dispatch(self, call: Call) -> Reply:
        allowed: list[str] = []
        for method, pattern, handler in self.routes:
            m = pattern.match(call.path)
            if m is None:
                continue
            if method != call.method:
                allowed.append(method)
                continue
            try:
                return handler(call, m)
            except BadJsonError as exc:
                return error(400, "JSON_PARSER_ERROR", str(exc))
            except RecordFailureError as exc:
                return failure(exc)
            except SoqlError as exc:
                return error(400, exc.code, exc.message)
        if allowed:
            return error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{call.method}' not allowed. Allowed are {','.join(allowed)}",
            )
        return error(404, "NOT_FOUND", "The requested resource does not exist")

    # helpers -----------------------------------------------------------------------------
    def sobject(self, name: str) -> ObjectDef:
        obj = find_object(self.schema, name)
        if obj is None:
            raise RecordFailureError(
                "NOT_FOUND", "The requested resource does not exist", status=404
            )
        return obj

    def render(
        self, obj: ObjectDef, row: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": attributes(obj.name, row["Id"], version)}
        names = [f.name for f in obj.fields.values()] if fields is None else fields
        for name in names:
            out[name] = to_wire(row.get(name))
        return out

    def field_list(self, obj: ObjectDef, raw: str | None) -> list[str] | None:
        if not raw:
            return None
        out = []
        for name in raw.split(","):
            f = obj.field(name.strip())
            if f is None:
                raise RecordFailureError(
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on sobject of type {obj.name}",
                )
            out.append(f.name)
        return out

    # resources ---------------------------------------------------------------------------
    def resources(self, call: Call, _: re.Match[str]) -> Reply:
        base = f"/services/data/v{call.version}"
        names = ("sobjects", "query", "queryAll", "composite", "limits", "search", "tooling")
        return Reply(200, {name: f"{base}/{name}" for name in names})

    def limits_resource(self, _call: Call, _: re.Match[str]) -> Reply:
        now = self.state.clock.now()
        used = self.limits.used(now)
        daily = self.limits.daily_max
        return Reply(
            200,
            {
                "DailyApiRequests": {"Max": daily, "Remaining": max(0, daily - used)},
                "DailyBulkV2QueryJobs": {
                    "Max": self.bulk_query_jobs.daily_max,
                    "Remaining": max(
                        0, self.bulk_query_jobs.daily_max - self.bulk_query_jobs.used(now)
                    ),
                },
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )

    def describe_global(self, call: Call, _: re.Match[str]) -> Reply:
        return Reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [o.basic(call.version) for o in self.schema.values()],
            },
        )

    def basic_info(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        return Reply(200, {"objectDescribe": obj.basic(call.version), "recentItems": []})

    def describe(self, call: Call, m: re.Match[str]) -> Reply:
        return Reply(200, self.sobject(m["type"]).describe(call.version))

    # single records ----------------------------------------------------------------------
    def create(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        row = self.writer.create(obj, self.writer.values(obj, call.json(), creating=True))
        return Reply(201, {"id": row["Id"], "success": True, "errors": []})

    def _by_id(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        if not looks_like_id(record_id):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        row = self.store.get(obj.name, record_id)
        if row is None:
            raise not_found()
        return row

    def get_record(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        row = self._by_id(obj, m["id"])
        return Reply(
            200,
            self.render(obj, row, call.version, self.field_list(obj, call.params.get("fields"))),
        )

    def update_record(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        row = self._by_id(obj, m["id"])
        self.writer.update(obj, row["Id"], self.writer.values(obj, call.json(), creating=False))
        return Reply(204)

    def delete_record(self, _call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        row = self._by_id(obj, m["id"])
        self.writer.delete(obj, row["Id"])
        return Reply(204)

    def external_field(self, obj: ObjectDef, name: str) -> Any:
        f = obj.field(name)
        if f is None or not (f.external_id or f.type == "id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return f

    def get_by_external(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        f = self.external_field(obj, m["field"])
        row = (
            self.store.get(obj.name, m["value"])
            if f.type == "id"
            else self.store.by_unique(obj.name, f.name, m["value"])
        )
        if row is None or row["IsDeleted"]:
            raise not_found()
        return Reply(
            200,
            self.render(obj, row, call.version, self.field_list(obj, call.params.get("fields"))),
        )

    def upsert_record(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        ext = self.external_field(obj, m["field"])
        values = self.writer.values(
            obj, call.json(), creating=True, passthrough=frozenset({ext.name.lower()})
        )
        row, created = self.writer.upsert(obj, ext, m["value"], values)
        body = {"id": row["Id"], "success": True, "errors": [], "created": created}
        if created:
            return Reply(201, body)
        if _version(call.version) >= 46:
            return Reply(200, body)
        return Reply(204)

    def delete_by_external(self, _call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        ext = self.external_field(obj, m["field"])
        row = self.store.by_unique(obj.name, ext.name, m["value"])
        if row is None:
            raise not_found()
        self.writer.delete(obj, row["Id"])
        return Reply(204)

    # replication -------------------------------------------------------------------------
    def _window(self, call: Call) -> tuple[datetime, datetime]:
        start, end = call.params.get("start"), call.params.get("end")
        if not start or not end:
            raise RecordFailureError("MISSING_ARGUMENT", "start and end parameters are required")
        try:
            begin, finish = (
                parse_datetime(start.replace(" ", "+")),
                parse_datetime(end.replace(" ", "+")),
            )
        except ValueError as exc:
            raise RecordFailureError("INVALID_REPLICATION_DATE", f"invalid date: {exc}") from exc
        if finish < begin:
            raise RecordFailureError("INVALID_REPLICATION_DATE", "endDate before startDate")
        if finish - begin > timedelta(days=30):
            raise RecordFailureError(
                "INVALID_REPLICATION_DATE", "startDate and endDate must be within 30 days"
            )
        return begin, finish

    def _covered(self, end: datetime) -> str:
        latest = min(end, self.state.clock.now()).replace(second=0, microsecond=0)
        return format_datetime(latest)

    def updated(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        start, end = self._window(call)
        ids = [r["Id"] for r in self.store.by_modstamp(obj.name, start, end) if not r["IsDeleted"]]
        return Reply(200, {"ids": ids, "latestDateCovered": self._covered(end)})

    def deleted(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.sobject(m["type"])
        start, end = self._window(call)
        gone = self.store.deleted_between(obj.name, start, end)
        earliest = self.store.earliest_deleted(obj.name) or start
        return Reply(
            200,
            {
                "deletedRecords": [
                    {"id": rid, "deletedDate": format_datetime(when)} for rid, when in gone
                ],
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": self._covered(end),
            },
        )

    # queries -----------------------------------------------------------------------------
    def query(self, call: Call, m: re.Match[str]) -> Reply:
        text = call.params.get("q")
        endpoint = m["endpoint"]
        if not text:
            return error(400, "MALFORMED_QUERY", "A query string has to be specified")
        result = self.evaluator.run(parse(text), include_deleted=endpoint == "queryAll")
        if result.count_only:
            return Reply(200, {"totalSize": len(result.ids), "done": True, "records": []})
        cursor = _Cursor(result, call.version, _batch_size(call.headers), endpoint)
        return Reply(200, self._page(cursor, 0))

    def query_more(self, _call: Call, m: re.Match[str]) -> Reply:
        cursor = self.cursors.get(m["locator"])
        if cursor is None:
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Reply(200, self._page(cursor, int(m["offset"])))

    def _page(self, cursor: _Cursor, offset: int) -> dict[str, Any]:
        ids = cursor.result.ids
        chunk = ids[offset : offset + cursor.batch]
        records = [
            r
            for r in (self.evaluator.render(cursor.result, rid, cursor.version) for rid in chunk)
            if r is not None
        ]
        body: dict[str, Any] = {"totalSize": len(ids), "done": True, "records": records}
        end = offset + cursor.batch
        if end < len(ids):
            locator = "01g" + secrets.token_hex(6).upper()[:12]
            self.cursors[locator] = cursor
            while len(self.cursors) > MAX_CURSORS:
                self.cursors.pop(next(iter(self.cursors)))
            body["done"] = False
            body["nextRecordsUrl"] = (
                f"/services/data/v{cursor.version}/{cursor.endpoint}/{locator}-{end}"
            )
        return body


def _batch_size(headers: Mapping[str, str]) -> int:
    """`Sforce-Query-Options: batchSize=N`, a suggestion kept within 200..2000."""
    raw = headers.get("sforce-query-options", "")
    m = re.search(r"batchSize\s*=\s*(\d+)", raw, re.IGNORECASE)
    if m is None:
        return DEFAULT_BATCH
    return max(200, min(DEFAULT_BATCH, int(m.group(1))))


def _version(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 0.0
