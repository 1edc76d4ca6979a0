"""The Salesforce emulator: OAuth, the REST data API, limits and sessions, over TLS.

Every data API answer carries `Sforce-Limit-Info`. A throttling storm is answered the way a
real org sheds load: 403 `REQUEST_LIMIT_EXCEEDED` with "ConcurrentPerOrgLongTxn Limit
exceeded." (Salesforce never answers 429 on the REST API). Clients tell it apart from the
daily cap ("TotalRequests Limit exceeded.") by the message. Bulk API 2.0 query jobs live
in `bulk.py`; their calls count against the same daily allocation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from connector.sandbox.asgi import ASGIApp
from connector.sandbox.core import Credentials, SandboxState
from connector.sandbox.salesforce.api import Call, DataApi, Reply, error
from connector.sandbox.salesforce.auth import Auth, OAuthError
from connector.sandbox.salesforce.bulk import BulkQueryApi
from connector.sandbox.salesforce.composite import Collections, Composite
from connector.sandbox.salesforce.limits import DEFAULT_DAILY_MAX, DailyLimit
from connector.sandbox.salesforce.schema import ObjectDef, build_schema, find_object
from connector.sandbox.salesforce.seeding import load_seed
from connector.sandbox.salesforce.store import Record, Store, to_wire, truncate_ms
from connector.sandbox.salesforce.tooling import ToolingApi
from connector.sandbox.salesforce.writes import RecordFailureError, Writer, parse_datetime
from connector.sandbox.seed import SeedData

# each REST call's URI may be this long; past it the org answers 414 before anything else
MAX_URI_BYTES = 16_384
VERSIONS = ("55.0", "56.0", "57.0", "58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0")
_JSON = "application/json;charset=UTF-8"


def _response(reply: Reply, extra: dict[str, str] | None = None) -> Response:
    headers = {**reply.headers, **(extra or {})}
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    if isinstance(reply.body, AsyncIterable):  # Bulk API 2.0 results: CSV, streamed
        media_type = headers.pop("Content-Type", None)
        return StreamingResponse(
            reply.body, status_code=reply.status, headers=headers, media_type=media_type
        )
    return Response(
        json.dumps(reply.body, separators=(",", ":")),
        status_code=reply.status,
        headers=headers,
        media_type=_JSON,
    )


class SalesforceEmulator:
    vendor = "salesforce"

    def __init__(self, state: SandboxState, *, base_url: str, credentials: Credentials) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.limits = DailyLimit()
        self._build()
        self.auth = Auth(
            state.clock, credentials, base_url=self.base_url, user_id=self.writer.user_id
        )
        self._app = Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route("/services/data", self._versions, methods=["GET"]),
                Route("/services/data/", self._versions, methods=["GET"]),
                Route(
                    "/services/data/v{version}",
                    self._data,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                ),
                Route(
                    "/services/data/v{version}/{rest:path}",
                    self._data,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                ),
            ]
        )

    def _build(self) -> None:
        self.schema: dict[str, ObjectDef] = build_schema()
        uniques = {
            name: (obj.key_prefix, [f.name for f in obj.fields.values() if f.unique])
            for name, obj in self.schema.items()
        }
        self.store = Store(uniques)
        self.writer = Writer(self.state, self.schema, self.store)
        self.api = DataApi(self.state, self.schema, self.store, self.writer, self.limits)
        self._routes(self.api)
        self._api_user()
        self.writer.rules.load_stages(self.writer.now(), self.writer.user_id)

    def _api_user(self) -> None:
        self.writer.user_id = "005" + "0" * 15  # placeholder until the row exists
        user = self.writer.create(
            self.schema["User"],
            {
                "FirstName": "Integration",
                "LastName": "User",
                "Email": "integration@example.com",
                "Username": self.credentials.sf_username,
                "Team__c": "Integration",
                "TimeZoneSidKey": "America/Los_Angeles",
            },
        )
        self.writer.user_id = user["Id"]
        user["CreatedById"] = user["LastModifiedById"] = user["Id"]

    def _routes(self, api: DataApi) -> None:
        collections = Collections(api)
        composite = Composite(api)
        t = r"(?P<type>[A-Za-z][A-Za-z0-9_]*)"
        v = r"(?P<value>[^/]+)"
        for method, pattern, handler in (
            ("GET", r"", api.resources),
            ("GET", r"limits", api.limits_resource),
            ("GET", r"sobjects", api.describe_global),
            ("GET", rf"sobjects/{t}", api.basic_info),
            ("POST", rf"sobjects/{t}", api.create),
            ("GET", rf"sobjects/{t}/describe", api.describe),
            ("GET", rf"sobjects/{t}/updated", api.updated),
            ("GET", rf"sobjects/{t}/deleted", api.deleted),
            ("GET", rf"sobjects/{t}/(?P<id>[^/]+)", api.get_record),
            ("PATCH", rf"sobjects/{t}/(?P<id>[^/]+)", api.update_record),
            ("DELETE", rf"sobjects/{t}/(?P<id>[^/]+)", api.delete_record),
            ("GET", rf"sobjects/{t}/(?P<field>[^/]+)/{v}", api.get_by_external),
            ("PATCH", rf"sobjects/{t}/(?P<field>[^/]+)/{v}", api.upsert_record),
            ("DELETE", rf"sobjects/{t}/(?P<field>[^/]+)/{v}", api.delete_by_external),
            ("GET", r"(?P<endpoint>query|queryAll)", api.query),
            (
                "GET",
                r"(?P<endpoint>query|queryAll)/(?P<locator>01g[0-9A-Za-z]+)-(?P<offset>\d+)",
                api.query_more,
            ),
            ("POST", r"composite", composite.handle),
            ("POST", r"composite/sobjects", collections.create),
            ("PATCH", r"composite/sobjects", collections.update),
            ("DELETE", r"composite/sobjects", collections.delete),
            ("GET", rf"composite/sobjects/{t}", collections.retrieve),
            ("PATCH", rf"composite/sobjects/{t}/(?P<field>[^/]+)", collections.upsert),
        ):
            api.route(method, pattern, handler)
        for verb, path, bulk_handler in BulkQueryApi(api).routes():
            api.route(verb, path, bulk_handler)
        api.route(
            "POST",
            r"tooling/sobjects/CustomField",
            ToolingApi(self.schema, self.store).create_field,
        )

    # Emulator protocol -------------------------------------------------------------------
    @property
    def app(self) -> ASGIApp:
        return self._app

    def throttled(self, retry_after: float | None) -> Response:
        reply = error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        extra = {"Sforce-Limit-Info": self.limits.header(self.state.clock.now())}
        if retry_after is not None:
            extra["Retry-After"] = str(int(retry_after))
        return _response(reply, extra)

    def reset(self) -> None:
        self.limits.set(self.state.clock.now(), daily_max=DEFAULT_DAILY_MAX, used=0)
        self._build()
        self.auth.reset(self.writer.user_id)

    def seed(self, data: SeedData) -> dict[str, int]:
        return load_seed(self.store, data, now=self.state.clock.now(), rules=self.writer.rules)

    def find(self, object_name: str, field: str, value: str) -> list[dict[str, Any]]:
        obj = find_object(self.schema, object_name)
        f = obj.field(field) if obj else None
        if obj is None or f is None:
            return []
        if self.store.has_unique(obj.name, f.name):
            row = self.store.by_unique(obj.name, f.name, value)
            rows: list[Record] = [row] if row is not None else []
        else:
            rows = [
                r
                for r in self.store.rows(obj.name).values()
                if not r["IsDeleted"] and _text(r.get(f.name)) == value
            ]
        return [self.api.render(obj, r, VERSIONS[-3]) for r in rows]

    def admin_routes(self) -> list[BaseRoute]:
        return [
            Route("/limits", self._admin_limits, methods=["GET", "POST"]),
            Route("/revoke", self._admin_revoke, methods=["POST"]),
            Route("/session", self._admin_session, methods=["GET", "POST"]),
            Route("/schema", self._admin_schema, methods=["POST"]),
            Route("/records/{object}", self._admin_record, methods=["POST"]),
        ]

    # HTTP --------------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        # parsed here: starlette's form parser needs python-multipart, not a dependency
        raw = (await request.body()).decode("utf-8", errors="replace")
        fields = dict(parse_qsl(raw, keep_blank_values=True))
        try:
            body = self.auth.token(fields)
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=400)
        return JSONResponse(body)

    async def _versions(self, _: Request) -> Response:
        return JSONResponse(
            [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
        )

    async def _data(self, request: Request) -> Response:
        uri = len(request.scope.get("raw_path") or b"") + len(request.scope["query_string"]) + 1
        if uri > MAX_URI_BYTES:  # e.g. a GET query with thousands of ids in an IN list
            return Response("URI Too Long", status_code=414, media_type="text/plain")
        version = request.path_params["version"]
        if not _valid_version(version):
            return _response(error(404, "NOT_FOUND", "The requested resource does not exist"))
        if self.state.faults.session_call(self.vendor):
            self.state.stats.fault(self.vendor, "session_expired")
            self.auth.expire_all()
        if not self.auth.valid(request.headers.get("authorization")):
            return _response(error(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        now = self.state.clock.now()
        if self.limits.exhausted(now):
            reply = error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            return _response(reply, {"Sforce-Limit-Info": self.limits.header(now)})
        self.limits.count(now)
        call = Call(
            method=request.method,
            path=request.path_params.get("rest", "").strip("/"),
            version=version,
            params=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=await request.body(),
        )
        store = self.store
        store.begin()
        try:
            reply = self.api.dispatch(call)
            written = Counter(store.journaled())
        finally:
            store.end()
        for object_name, n in written.items():
            self.state.record_writes(self.vendor, object_name, n)
        return _response(reply, {"Sforce-Limit-Info": self.limits.header(now)})

    # admin -------------------------------------------------------------------------------
    async def _admin_limits(self, request: Request) -> Response:
        now = self.state.clock.now()
        if request.method == "POST":
            body = await _body(request)
            keys = ("daily_max", "used", "bulk_daily_max", "bulk_used")
            try:  # all checked before any is applied
                given = {k: None if body.get(k) is None else int(body[k]) for k in keys}
            except (TypeError, ValueError):
                return JSONResponse({"error": f"{', '.join(keys)} must be integers"}, 400)
            self.limits.set(now, daily_max=given["daily_max"], used=given["used"])
            self.api.bulk_query_jobs.set(
                now, daily_max=given["bulk_daily_max"], used=given["bulk_used"]
            )
        bulk = self.api.bulk_query_jobs
        return JSONResponse(
            {
                "daily_max": self.limits.daily_max,
                "used": self.limits.used(now),
                "bulk_daily_max": bulk.daily_max,
                "bulk_used": bulk.used(now),
            }
        )

    async def _admin_revoke(self, request: Request) -> Response:
        body = await _body(request)
        self.auth.revoke(bool(body.get("revoked", True)))
        return JSONResponse({"revoked": self.auth.revoked})

    async def _admin_session(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if "lifetime_s" in body:
                try:
                    self.auth.lifetime = timedelta(seconds=float(body["lifetime_s"]))
                except (TypeError, ValueError):
                    return JSONResponse({"error": "lifetime_s must be a number"}, 400)
            if body.get("expire_all"):
                self.auth.expire_all()
        return JSONResponse({"lifetime_s": self.auth.lifetime.total_seconds()})

    async def _admin_schema(self, request: Request) -> Response:
        """Misconfigure the org: `{"object","field","externalId"?,"unique"?,"picklist"?}` or
        `drop: true`; `picklist` is the field's values as an admin edits them in Setup."""
        body = await _body(request)
        obj = find_object(self.schema, str(body.get("object", "")))
        f = obj.field(str(body.get("field", ""))) if obj else None
        if obj is None or f is None:
            return JSONResponse({"error": "unknown object or field"}, 404)
        if body.get("drop"):
            obj.drop(f.name)
            self.store.drop_unique(obj.name, f.name)
            return JSONResponse({"dropped": f"{obj.name}.{f.name}"})
        if isinstance(body.get("picklist"), list):  # Setup: the field's values, as edited
            f.picklist = tuple(str(v) for v in body["picklist"])
        if "externalId" in body:
            f.external_id = bool(body["externalId"])
        if "unique" in body:
            f.unique = bool(body["unique"])
            if f.unique:
                self.store.add_unique(obj.name, f.name)
            else:
                self.store.drop_unique(obj.name, f.name)
        return JSONResponse(f.describe())

    async def _admin_record(self, request: Request) -> Response:
        """A late commit: a record whose audit dates are given (e.g. an older SystemModstamp)."""
        obj = find_object(self.schema, request.path_params["object"])
        if obj is None:
            return JSONResponse({"error": "unknown object"}, 404)
        body = dict(await _body(request))
        stamps: dict[str, datetime] = {}
        try:
            for name in ("SystemModstamp", "CreatedDate", "LastModifiedDate"):
                if name in body:
                    stamps[name] = truncate_ms(parse_datetime(str(body.pop(name))))
            row = self.writer.create(obj, self.writer.values(obj, body, creating=True))
        except (RecordFailureError, ValueError) as exc:
            detail = exc.rest_body() if isinstance(exc, RecordFailureError) else str(exc)
            return JSONResponse({"error": detail}, 400)
        if stamps:
            when = stamps.get("SystemModstamp") or next(iter(stamps.values()))
            updated = dict(row)
            updated.update(
                CreatedDate=stamps.get("CreatedDate", when),
                LastModifiedDate=stamps.get("LastModifiedDate", when),
                SystemModstamp=stamps.get("SystemModstamp", when),
            )
            self.store.put(obj.name, updated)
            row = updated
        return JSONResponse(self.api.render(obj, row, VERSIONS[-3]), status_code=201)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _valid_version(version: str) -> bool:
    head, _, tail = version.partition(".")
    return head.isdigit() and tail.isdigit() and 20 <= int(head) <= 99


def _text(value: Any) -> str | None:
    wire = to_wire(value)
    if wire is None:
        return None
    if isinstance(wire, bool):
        return "true" if wire else "false"
    return str(wire)
