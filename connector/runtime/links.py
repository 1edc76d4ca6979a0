"""The tracked-link route of the sidecar's app.

    GET /l/{token}   302 to the link's destination (from the plays file, via the store
                     row: never from the request, so no open redirect); 404 "Not Found"
                     for a token that is malformed, unknown or expired, with no side effect
                     and nothing that tells one case from another. A HEAD answers the
                     same and is judged a machine's (a link checker), whatever its agent

The click is recorded in the request's transaction before the redirect goes back (at most
one row per link and kind: `engine/clicks.py`); a counted first click wakes the `ingest`
job, which writes it to the CRM. The answer is never cached and sends no Referer on, so
the token does not leak to the destination. Database work runs in worker threads, one at a
time on SQLite (one writer) with the clicks that arrived meanwhile committed together
(`group_commit`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from connector.clock import UtcClock
from connector.domain.links import CLICK_PATH, ClickFlag
from connector.engine.clicks import Click, record
from connector.metrics import LINK_CLICKS
from connector.ports import Clock, Connection, Store
from connector.runtime.group_commit import GroupCommit
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
        group_commit: bool | None = None,
    ) -> None:
        self.clock = clock
        self.commits: GroupCommit[Click | None] = GroupCommit(
            store, concurrency=db_concurrency, grouped=group_commit
        )
        self.on_click = on_click

    def _record(self, conn: Connection, token: str, user_agent: str | None) -> Click | None:
        return record(conn, token, user_agent, self.clock.now())

    async def click(self, request: Request) -> Response:
        token = str(request.path_params.get("token", ""))
        # a HEAD is a link checker's, whatever it calls itself: judged as an agentless fetch
        agent = request.headers.get("user-agent") if request.method == "GET" else None
        found = await self.commits.run(partial(self._record, token=token, user_agent=agent))
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
    group_commit: bool | None = None,
) -> list[BaseRoute]:
    """The link route; `group_commit=False` commits each click alone (the benchmark's
    baseline)."""
    dialect = getattr(store, "dialect", "sqlite")
    if db_concurrency is None:
        db_concurrency = 1 if str(dialect).startswith("sqlite") else 8
    route = LinkRoute(
        store,
        clock or UtcClock(),
        db_concurrency=db_concurrency,
        on_click=on_click,
        group_commit=group_commit,
    )
    return route.routes()


def build_link_app(
    store: Store,
    *,
    clock: Clock | None = None,
    db_concurrency: int | None = None,
    on_click: Callable[[], object] | None = None,
    group_commit: bool | None = None,
) -> ASGIApp:
    """An app serving only the link route (tests, the benchmark), behind the sidecar's
    error guard."""
    app = Starlette(
        routes=link_routes(
            store,
            clock=clock,
            db_concurrency=db_concurrency,
            on_click=on_click,
            group_commit=group_commit,
        ),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    return guarded(app, limits={})
