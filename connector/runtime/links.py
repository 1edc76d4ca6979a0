"""The tracked-link route of the sidecar's app.

    GET /l/{token}   302 to the link's destination (from the plays file, via the store
                     row: never from the request, so no open redirect); 404 "Not Found"
                     for a token that is malformed, unknown or expired, with no side effect
                     and nothing that tells one case from another

The click is recorded in the request's transaction before the redirect goes back (at most
one row per link and kind: `engine/clicks.py`); a counted first click wakes the `ingest`
job, which writes it to the CRM. The answer is never cached and sends no Referer on, so
the token does not leak to the destination. Database work runs in worker threads, one at a
time on SQLite (one writer), as the webhooks' does."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import anyio
from anyio import CapacityLimiter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from connector.clock import UtcClock
from connector.domain.links import CLICK_PATH, ClickFlag
from connector.engine.clicks import Click, record
from connector.metrics import LINK_CLICKS
from connector.ports import Clock, Store
from connector.runtime.http_guard import EXCEPTION_HANDLERS, guarded

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class LinkRoute:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        db_concurrency: int = 1,
        on_click: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = CapacityLimiter(db_concurrency)
        self.on_click = on_click

    def _record(self, token: str, user_agent: str | None) -> Click | None:
        with self.store.begin() as conn:
            return record(conn, token, user_agent, self.clock.now())

    async def click(self, request: Request) -> Response:
        token = str(request.path_params.get("token", ""))
        agent = request.headers.get("user-agent")
        found = await anyio.to_thread.run_sync(
            partial(self._record, token, agent), limiter=self.limiter
        )
        if found is None:
            LINK_CLICKS.labels("not_found").inc()
            return PlainTextResponse("Not Found", status_code=404, headers=HEADERS)
        LINK_CLICKS.labels(found.flag.value if found.first else "repeat").inc()
        if found.first and found.flag is ClickFlag.COUNTED and self.on_click is not None:
            self.on_click()
        return RedirectResponse(found.destination, status_code=302, headers=HEADERS)

    def routes(self) -> list[BaseRoute]:
        return [Route(CLICK_PATH + "{token}", self.click, methods=["GET"])]


def link_routes(
    store: Store,
    *,
    clock: Clock | None = None,
    db_concurrency: int | None = None,
    on_click: Callable[[], object] | None = None,
) -> list[BaseRoute]:
    dialect = getattr(store, "dialect", "sqlite")
    if db_concurrency is None:
        db_concurrency = 1 if str(dialect).startswith("sqlite") else 8
    route = LinkRoute(store, clock or UtcClock(), db_concurrency=db_concurrency, on_click=on_click)
    return route.routes()


def build_link_app(
    store: Store,
    *,
    clock: Clock | None = None,
    db_concurrency: int | None = None,
    on_click: Callable[[], object] | None = None,
) -> ASGIApp:
    """An app serving only the link route (tests, the benchmark), behind the sidecar's
    error guard."""
    app = Starlette(
        routes=link_routes(store, clock=clock, db_concurrency=db_concurrency, on_click=on_click),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    return guarded(app, limits={})
