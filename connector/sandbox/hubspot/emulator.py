"""The HubSpot CRM v3/v4 emulator that `hubspot-api-client` talks to unmodified.

Every route goes through one wrapper that authenticates the bearer token, applies the
account's rate limits, renders `HubSpotError`s as HubSpot's JSON and stamps the
`X-HubSpot-RateLimit-*` headers, so handlers hold only the CRM behaviour."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.asgi import ASGIApp
from connector.sandbox.core import Credentials, SandboxState
from connector.sandbox.hubspot import batch, pipelines
from connector.sandbox.hubspot.associations import REVERSE
from connector.sandbox.hubspot.errors import HubSpotError, validation_error
from connector.sandbox.hubspot.limits import TEN_SECONDLY, LimitConfig, rate_limit_error
from connector.sandbox.hubspot.oauth import OAuthError, OAuthServer
from connector.sandbox.hubspot.objects import TYPE_ALIASES, object_type
from connector.sandbox.hubspot.portal import VENDOR, Portal
from connector.sandbox.hubspot.search import parse as parse_search
from connector.sandbox.hubspot.search import run as run_search
from connector.sandbox.seed import SeedData
from connector.sandbox.vendors import Vendor

Handler = Callable[[Request], Awaitable[Response]]

_NO_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise validation_error(
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise validation_error("Invalid input JSON: expected an object")
    return data


def _names(request: Request, param: str) -> list[str] | None:
    """`?properties=a,b&properties=c` -> [a, b, c]; None when absent."""
    values = request.query_params.getlist(param)
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _flag(request: Request, param: str) -> bool:
    return request.query_params.get(param, "false").lower() == "true"


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class HubSpotEmulator:
    vendor: Vendor = "hubspot"

    def __init__(self, state: SandboxState, *, base_url: str, credentials: Credentials) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.portal = Portal(state, self.base_url)
        self.oauth = OAuthServer(credentials)
        self._app = Starlette(routes=self._routes())

    # the Emulator protocol ---------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        return self._app

    def throttled(self, retry_after: float | None) -> Response:
        """A TEN_SECONDLY_ROLLING 429, Retry-After only when the storm asks for it."""
        now = self.state.clock.now()
        err = rate_limit_error(TEN_SECONDLY, self.portal.limiter.headers(now), retry_after)
        return JSONResponse(err.body, status_code=429, headers=err.headers)

    def reset(self) -> None:
        self.portal.reset()
        self.oauth.reset()

    def seed(self, data: SeedData) -> dict[str, int]:
        return self.portal.seed(data)

    def find(self, object_name: str, field: str, value: str) -> list[dict[str, Any]]:
        name = TYPE_ALIASES.get(object_name.lower())
        if name is None:
            return []
        store = self.portal.stores[name]
        return [store.to_api(r, full=True) for r in store.matching(field, value)]

    # knobs (Python and admin API) ----------------------------------------------------------

    def configure_limits(self, **changes: Any) -> LimitConfig:
        config = LimitConfig.model_validate({**self.portal.limiter.config.model_dump(), **changes})
        self.portal.limiter.config = config
        return config

    def set_index_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("index delay cannot be negative")
        self.portal.index_delay_s = seconds

    def refuse_engagement_unique(self, refuse: bool = True, *, reset_existing: bool = True) -> None:
        self.portal.set_refuse_engagement_unique(refuse, reset_existing=reset_existing)

    def revoke_token(self, revoked: bool = True) -> None:
        self.portal.token_revoked = revoked

    def admin_routes(self) -> list[BaseRoute]:
        async def limits(request: Request) -> JSONResponse:
            if request.method == "POST":
                try:
                    self.configure_limits(**await _admin_body(request))
                except (ValidationError, ValueError, TypeError) as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(self.portal.limiter.config.model_dump())

        async def index_delay(request: Request) -> JSONResponse:
            if request.method == "POST":
                try:
                    self.set_index_delay(float((await _admin_body(request))["seconds"]))
                except (KeyError, TypeError, ValueError) as exc:
                    return JSONResponse({"error": f"send {{seconds: N}}: {exc}"}, 400)
            return JSONResponse({"seconds": self.portal.index_delay_s})

        async def unique(request: Request) -> JSONResponse:
            if request.method == "POST":
                try:
                    body = await _admin_body(request)
                    self.refuse_engagement_unique(
                        bool(body["refuse_engagement_unique"]),
                        reset_existing=bool(body.get("reset_existing", True)),
                    )
                except (KeyError, ValueError, TypeError) as exc:
                    return JSONResponse({"error": f"send {{refuse_engagement_unique}}: {exc}"}, 400)
            return JSONResponse(self._unique_state())

        async def token(request: Request) -> JSONResponse:
            if request.method == "POST":
                try:
                    self.revoke_token(bool((await _admin_body(request)).get("revoked", True)))
                except (ValueError, TypeError) as exc:
                    return JSONResponse({"error": str(exc)}, 400)
            return JSONResponse({"revoked": self.portal.token_revoked})

        async def oauth(request: Request) -> JSONResponse:
            expired = False
            if request.method == "POST":
                try:
                    body = await _admin_body(request)
                except (ValueError, TypeError) as exc:
                    return JSONResponse({"error": str(exc)}, 400)
                if body.get("expire_access"):
                    expired = self.oauth.expire_access()
            return JSONResponse(
                {
                    "expired": expired,
                    "has_access_token": self.oauth.access_token is not None,
                    "exchanges": self.oauth.exchanges,
                }
            )

        return [
            Route("/oauth", oauth, methods=["GET", "POST"]),
            Route("/limits", limits, methods=["GET", "POST"]),
            Route("/index-delay", index_delay, methods=["GET", "POST"]),
            Route("/unique", unique, methods=["GET", "POST"]),
            Route("/token", token, methods=["GET", "POST"]),
        ]

    def _unique_state(self) -> dict[str, Any]:
        return {
            "refuse_engagement_unique": self.portal.refuse_engagement_unique,
            "unique_properties": {
                name: store.unique_props() for name, store in self.portal.stores.items()
            },
        }

    # request wrapper ------------------------------------------------------------------------

    def _api(self, handler: Handler, *, search: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            now = self.state.clock.now()
            limiter = self.portal.limiter
            try:
                self._authenticate(request)
                limiter.admit(now, search=search)
                response = await handler(request)
            except HubSpotError as err:
                response = JSONResponse(err.body, status_code=err.status, headers=err.headers)
            for name, value in limiter.headers(now).items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    def _authenticate(self, request: Request) -> None:
        """The private-app token or the current OAuth access token; a rotated-out (or
        admin-expired) OAuth token gets EXPIRED_AUTHENTICATION, as an old one does."""
        header = request.headers.get("authorization", "")
        scheme, _, bearer = header.partition(" ")
        if self.portal.token_revoked or scheme.lower() != "bearer" or not bearer:
            raise HubSpotError(401, _NO_CREDENTIALS, "INVALID_AUTHENTICATION")
        if bearer != self.credentials.hubspot_token:
            verdict = self.oauth.check(bearer)
            if verdict == "expired":
                raise HubSpotError(
                    401,
                    "The OAuth token used to make this call expired 1 second(s) ago.",
                    "EXPIRED_AUTHENTICATION",
                    context={"expiredSecondsAgo": ["1"]},
                )
            if verdict != "ok":
                raise HubSpotError(401, _NO_CREDENTIALS, "INVALID_AUTHENTICATION")
        if self.state.faults.session_call(VENDOR):
            raise HubSpotError(
                401,
                "The OAuth token used to make this call expired 0 second(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expiredSecondsAgo": ["0"]},
            )

    async def _token(self, request: Request) -> Response:
        """`POST /oauth/v1/token`: form-encoded, outside the CRM API's auth and limits."""
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        try:
            return _json(self.oauth.exchange(form))
        except OAuthError as err:
            return _json(err.body, 400)

    # CRM objects ----------------------------------------------------------------------------

    async def _object_get(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        out = self.portal.read(
            store,
            request.path_params["id"],
            properties=_names(request, "properties"),
            id_property=request.query_params.get("idProperty"),
            associations=_names(request, "associations") or [],
            archived=_flag(request, "archived"),
            history=_names(request, "propertiesWithHistory"),
        )
        return _json(out)

    async def _object_patch(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        out = self.portal.update_one(
            store,
            request.path_params["id"],
            await _body(request),
            request.query_params.get("idProperty"),
        )
        return _json(out)

    async def _object_delete(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        self.portal.archive_one(store, request.path_params["id"])
        return Response(status_code=204)

    async def _objects(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        if request.method == "POST":
            return _json(self.portal.create_one(store, await _body(request)), 201)
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError as exc:
            raise validation_error("limit must be an integer") from exc
        out = self.portal.list_page(
            store,
            limit=limit,
            after=request.query_params.get("after"),
            properties=_names(request, "properties"),
            archived=_flag(request, "archived"),
            associations=_names(request, "associations") or [],
            path=request.url.path,
            history=_names(request, "propertiesWithHistory"),
        )
        return _json(out)

    async def _batch(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        body = await _body(request)
        action = request.path_params["action"]
        if action == "archive":
            batch.archive(self.portal, store, body)
            return Response(status_code=204)
        operations = {
            "read": batch.read,
            "create": batch.create,
            "update": batch.update,
            "upsert": batch.upsert,
        }
        operation = operations.get(action)
        if operation is None:
            raise HubSpotError(404, f"Unknown batch action {action}", "OBJECT_NOT_FOUND")
        status, out = operation(self.portal, store, body)
        return _json(out, status)

    async def _search(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        query = parse_search(store, await request.body())
        total, page, next_offset = run_search(store, query, self.state.clock.now().timestamp())
        out: dict[str, Any] = {
            "total": total,
            "results": [store.to_api(rec, query.properties, props=props) for rec, props in page],
        }
        if next_offset is not None:
            out["paging"] = {"next": {"after": str(next_offset)}}
        return _json(out)

    # schema, owners, associations ------------------------------------------------------------

    async def _properties(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        if request.method == "POST":
            return _json(self.portal.property_create(store, await _body(request)), 201)
        return _json(self.portal.property_list(store))

    async def _property(self, request: Request) -> Response:
        store = self.portal.store(request.path_params["type"])
        name = request.path_params["name"]
        if request.method == "PATCH":
            return _json(self.portal.property_update(store, name, await _body(request)))
        return _json(self.portal.property_get(store, name))

    async def _owners(self, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError as exc:
            raise validation_error("limit must be an integer") from exc
        out = self.portal.owners.page(
            request.query_params.get("after"),
            limit,
            request.query_params.get("email"),
            archived=_flag(request, "archived"),
        )
        return _json(out)

    async def _owner(self, request: Request) -> Response:
        archived = _flag(request, "archived")
        return _json(self.portal.owners.get(request.path_params["id"], archived=archived).to_api())

    async def _v4_associations(self, request: Request) -> Response:
        from_type = object_type(request.path_params["from"])
        to_type = object_type(request.path_params["to"])
        links = self.portal.associations.of(from_type, request.path_params["id"], to_type)
        out = {"results": [self.portal.associations.v4_result(t, ids) for t, ids in links]}
        return _json(out)

    async def _v4_batch_read(self, request: Request) -> Response:
        from_type = object_type(request.path_params["from"])
        to_type = object_type(request.path_params["to"])
        started = self.portal.stamp()
        inputs = batch.inputs_of(await _body(request), batch.MAX_ASSOCIATION_INPUTS)
        associations = self.portal.associations
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            key = str(item.get("id", ""))
            links = associations.of(from_type, key, to_type)
            if not links:
                errors.append(batch.no_associations(from_type, to_type, key))
                continue
            results.append(
                {
                    "from": {"id": key},
                    "to": [associations.v4_result(t, ids) for t, ids in links],
                }
            )
        status, out = batch.respond(self.portal, results, errors, started, 200)
        return _json(out, status)

    async def _v4_default_association(self, request: Request) -> Response:
        """`PUT .../associations/default/{to}/{toId}`: the HUBSPOT_DEFINED link both ways."""
        params = request.path_params
        from_type, to_type = object_type(params["from"]), object_type(params["to"])
        started = self.portal.stamp()
        type_id = self.portal.associations.default_type(from_type, to_type)
        if type_id is None:
            raise HubSpotError(
                400,
                f"No default association type between {from_type} and {to_type}",
                "VALIDATION_ERROR",
            )
        for kind, key in ((from_type, params["id"]), (to_type, params["to_id"])):
            rec = self.portal.stores[kind].get(key)
            if rec is None or rec.archived:
                raise HubSpotError(
                    400,
                    f"One or more associations are invalid: {kind} {key} does not exist",
                    "VALIDATION_ERROR",
                    subCategory="crm.associations.INVALID_OBJECT_IDS",
                )
        link = (to_type, params["to_id"], type_id)
        self.portal.associations.add(from_type, params["id"], [link])
        reverse = REVERSE[type_id]
        results = [
            _default_link(params["id"], params["to_id"], type_id),
            _default_link(params["to_id"], params["id"], reverse),
        ]
        status, out = batch.respond(self.portal, results, [], started, 200)
        return _json(out, status)

    # pipelines -------------------------------------------------------------------------------

    async def _pipelines(self, request: Request) -> Response:
        kind = object_type(request.path_params["type"])
        found = pipelines.pipelines_of(kind)
        return _json({"results": [p.to_api(i) for i, p in enumerate(found)]})

    async def _pipeline(self, request: Request) -> Response:
        kind = object_type(request.path_params["type"])
        wanted = request.path_params["pipeline"]
        order = next((i for i, p in enumerate(pipelines.pipelines_of(kind)) if p.id == wanted), 0)
        return _json(pipelines.pipeline(kind, wanted).to_api(order))

    async def _stages(self, request: Request) -> Response:
        kind = object_type(request.path_params["type"])
        found = pipelines.pipeline(kind, request.path_params["pipeline"])
        return _json({"results": [s.to_api(i) for i, s in enumerate(found.stages)]})

    async def _stage(self, request: Request) -> Response:
        params = request.path_params
        order, found = pipelines.stage(
            object_type(params["type"]), params["pipeline"], params["stage"]
        )
        return _json(found.to_api(order))

    def _routes(self) -> list[BaseRoute]:
        api = self._api
        objects = "/crm/v3/objects/{type}"
        return [
            Route("/oauth/v1/token", self._token, methods=["POST"]),
            Route(objects + "/batch/{action}", api(self._batch), methods=["POST"]),
            Route(objects + "/search", api(self._search, search=True), methods=["POST"]),
            Route(objects, api(self._objects), methods=["GET", "POST"]),
            Route(objects + "/{id}", api(self._object_get), methods=["GET"]),
            Route(objects + "/{id}", api(self._object_patch), methods=["PATCH"]),
            Route(objects + "/{id}", api(self._object_delete), methods=["DELETE"]),
            Route("/crm/v3/properties/{type}", api(self._properties), methods=["GET", "POST"]),
            Route(
                "/crm/v3/properties/{type}/{name}", api(self._property), methods=["GET", "PATCH"]
            ),
            Route("/crm/v3/owners/", api(self._owners), methods=["GET"]),
            Route("/crm/v3/owners", api(self._owners), methods=["GET"]),
            Route("/crm/v3/owners/{id}", api(self._owner), methods=["GET"]),
            Route(
                "/crm/v4/objects/{from}/{id}/associations/{to}",
                api(self._v4_associations),
                methods=["GET"],
            ),
            Route(
                "/crm/v4/associations/{from}/{to}/batch/read",
                api(self._v4_batch_read),
                methods=["POST"],
            ),
            Route(
                "/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}",
                api(self._v4_default_association),
                methods=["PUT"],
            ),
            Route("/crm/v3/pipelines/{type}", api(self._pipelines), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}/{pipeline}", api(self._pipeline), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}/{pipeline}/stages", api(self._stages), methods=["GET"]),
            Route(
                "/crm/v3/pipelines/{type}/{pipeline}/stages/{stage}",
                api(self._stage),
                methods=["GET"],
            ),
        ]


def _default_link(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    """One `PublicDefaultAssociation`."""
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }


async def _admin_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise TypeError("body must be a JSON object")
    return data
