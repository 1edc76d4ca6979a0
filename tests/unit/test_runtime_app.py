"""The sidecar's own endpoints, in process: liveness, readiness with injected checks, and
the Prometheus exposition."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio.from_thread
import httpx
from starlette.types import ASGIApp

from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness

METRIC_NAMES = (
    "smsync_sync_lag_seconds",
    "smsync_outbox_depth",
    "smsync_outbox_oldest_age_seconds",
    "smsync_crm_api_calls_total",
    "smsync_crm_api_usage_ratio",
    "smsync_rate_limit_waits_total",
    "smsync_webhooks_total",
    "smsync_sms_decisions_total",
    "smsync_sla_timers_open",
    "smsync_sla_timers_breached",
    "smsync_errors_total",
)


class Client:
    """A synchronous face on httpx's in-process ASGI transport."""

    def __init__(self, app: ASGIApp, portal: anyio.from_thread.BlockingPortal) -> None:
        self.portal = portal
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def get(self, path: str) -> httpx.Response:
        return self.portal.call(self.http.get, path)

    def post(self, path: str) -> httpx.Response:
        reply: httpx.Response = self.portal.call(self.http.post, path)
        return reply


@contextmanager
def serving(app: ASGIApp) -> Iterator[Client]:
    with anyio.from_thread.start_blocking_portal() as portal:
        client = Client(app, portal)
        try:
            yield client
        finally:
            portal.call(client.http.aclose)


class Flaky:
    """A check that fails until told otherwise, counting its calls."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.failing = True
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.failing:
            raise RuntimeError(self.message)


def ok() -> None:
    """A check that passes."""


def test_healthz_is_ok_without_touching_any_check() -> None:
    crm = Flaky("down")
    with serving(build_app(Readiness({"crm": crm}))) as client:
        reply = client.get("/healthz")
        assert reply.status_code == 200
        assert reply.json() == {"status": "ok"}
        assert crm.calls == 0


def test_readyz_names_the_failed_check_and_why_scrubbed() -> None:
    crm = Flaky("login refused for +14155550123")
    with serving(build_app(Readiness({"database": ok, "crm": crm}, cache_s=0))) as client:
        reply = client.get("/readyz")
        assert reply.status_code == 503
        body = reply.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["crm"].startswith("RuntimeError: login refused")
        assert "+14155550123" not in reply.text
        crm.failing = False
        reply = client.get("/readyz")
        assert reply.status_code == 200
        assert reply.json() == {"status": "ok", "checks": {"database": "ok", "crm": "ok"}}


def test_readiness_answers_are_cached_for_a_while() -> None:
    now = [100.0]
    crm = Flaky("down")
    readiness = Readiness({"crm": crm}, cache_s=5, monotonic=lambda: now[0])
    assert not readiness.run()[0].ok
    crm.failing = False
    assert not readiness.run()[0].ok  # still the cached answer
    assert crm.calls == 1
    now[0] += 6
    assert readiness.run()[0].ok
    assert crm.calls == 2


def test_metrics_expose_every_operator_metric() -> None:
    with serving(build_app(Readiness({}))) as client:
        reply = client.get("/metrics")
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain")
        types = {line.split()[2] for line in reply.text.splitlines() if line.startswith("# TYPE")}
        missing = [name for name in METRIC_NAMES if name not in types]
        assert missing == []


def test_an_accepted_webhook_wakes_ingest_and_a_refused_one_does_not() -> None:
    from starlette.responses import Response
    from starlette.routing import Route

    async def accept(_: object) -> Response:
        return Response(status_code=204)

    async def refuse(_: object) -> Response:
        return Response(status_code=403)

    woken: list[int] = []
    app = build_app(
        Readiness({}),
        webhooks=[
            Route("/webhooks/twilio/status", accept, methods=["POST"]),
            Route("/webhooks/twilio/inbound", refuse, methods=["POST"]),
        ],
        on_webhook=lambda: woken.append(1),
    )
    with serving(app) as client:
        assert client.post("/webhooks/twilio/inbound").status_code == 403
        assert woken == []
        assert client.post("/webhooks/twilio/status").status_code == 204
        assert woken == [1]
        client.get("/healthz")
        assert woken == [1]
