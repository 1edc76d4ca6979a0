"""The sidecar's ASGI app: Twilio webhooks, liveness, readiness and Prometheus metrics.

    GET /healthz   200 {"status":"ok"} while the process serves requests (liveness)
    GET /readyz    200 when the database, CRM auth and SMS auth all pass; else 503 naming
                   each failed check and why (scrubbed). Answers are cached briefly.
    GET /metrics   the Prometheus exposition of the default registry
    POST /webhooks/twilio/{inbound,status}   see connector.runtime.webhooks

    POST /api/send   see connector.runtime.api
    GET /admin       the admin page, only with SMSYNC_ADMIN_TOKEN (connector.ops.admin)
    GET /l/{token}   a tracked link: 302 to its destination (connector.runtime.links)

A webhook that was accepted wakes the `ingest` job, so a reply does not wait a whole
interval before it is processed. Every route sits behind `http_guard`: request bodies
are bounded while they are read (64 KiB, 16 KiB for /api/send), and no exception gets
past the one error handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.runtime import api
from connector.runtime import webhooks as hooks
from connector.runtime.http_guard import EXCEPTION_HANDLERS, guarded
from connector.runtime.readiness import Readiness, as_json

WEBHOOK_PREFIX = "/webhooks/"
BODY_LIMITS = {**hooks.BODY_LIMITS, api.SEND_PATH: api.MAX_BODY_BYTES}


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics(_: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def readyz_endpoint(readiness: Readiness) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(_: Request) -> Response:
        # the checks block on the network: keep them off the event loop
        results = await anyio.to_thread.run_sync(readiness.run)
        body = as_json(results)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return readyz


class WakeOnWebhook:
    """Calls `wake()` after a webhook was answered with a 2xx (its row is committed)."""

    def __init__(self, app: ASGIApp, wake: Callable[[], object]) -> None:
        self.app = app
        self.wake = wake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(WEBHOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if 200 <= status < 300:
            self.wake()


def build_app(
    readiness: Readiness,
    *,
    webhooks: Sequence[BaseRoute] = (),
    on_webhook: Callable[[], object] | None = None,
) -> ASGIApp:
    """The whole sidecar app; `webhooks` come from `connector.runtime.webhooks` (and the
    API's routes from `connector.runtime.api`)."""
    app: ASGIApp = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz_endpoint(readiness), methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *webhooks,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    if on_webhook is not None:
        app = WakeOnWebhook(app, on_webhook)
    return guarded(app, limits=BODY_LIMITS, on_refused=hooks.count_refused)
