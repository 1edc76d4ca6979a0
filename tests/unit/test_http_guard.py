"""The layers around the sidecar app, driven as ASGI: bodies are bounded while they are
read (nothing past the limit is ever received), and no exception gets past the guard,
which answers 500 with an error id and logs the id and the exception's type only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message
from structlog.testing import capture_logs

from connector import logs
from connector.runtime.app import build_app
from connector.runtime.http_guard import EXCEPTION_HANDLERS, guarded
from connector.runtime.readiness import Readiness

KIB = 1024
PHONE = "+14155550123"
TEXT = "my secret reply text"


class Exchange:
    """One request driven through an ASGI app: the chunks it may read, what it sent."""

    def __init__(self, chunks: list[bytes], *, declared: int | None = None) -> None:
        self.chunks = chunks
        self.declared = declared
        self.reads = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.reads >= len(self.chunks):
            return {"type": "http.disconnect"}
        chunk = self.chunks[self.reads]
        self.reads += 1
        return {"type": "http.request", "body": chunk, "more_body": self.reads < len(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def run(self, app: ASGIApp, path: str = "/echo") -> Exchange:
        headers = [(b"content-type", b"application/json")]
        if self.declared is not None:
            headers.append((b"content-length", str(self.declared).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
        }
        anyio.run(app, scope, self.receive, self.send)
        return self

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def echo(request: Request) -> Response:
    return JSONResponse({"size": len(await request.body())})


def app_with(*routes: Route, **kwargs: Any) -> ASGIApp:
    return guarded(
        Starlette(routes=[Route("/echo", echo, methods=["POST"]), *routes], **kwargs),
        limits={"/small": 16 * KIB},
    )


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read() -> None:
    done = Exchange([b"a" * KIB] * 100, declared=300 * KIB * KIB).run(app_with())
    assert done.status == 413
    assert done.reads == 0
    assert "65,536 bytes" in json.loads(done.body)["error"]
    assert (b"connection", b"close") in done.sent[0]["headers"]


def test_a_chunked_body_is_refused_as_soon_as_it_crosses_the_limit() -> None:
    done = Exchange([b"a" * 16 * KIB] * 1000).run(app_with())
    assert done.status == 413
    assert done.reads == 5  # 80 KiB read of 16 MB: the fifth chunk crossed 64 KiB


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    done = Exchange([b"a" * 16 * KIB] * 4).run(app_with())
    assert done.status == 200
    assert json.loads(done.body) == {"size": 64 * KIB}


def test_each_path_has_its_own_limit() -> None:
    async def small(request: Request) -> Response:
        return await echo(request)

    app = app_with(Route("/small", small, methods=["POST"]))
    assert Exchange([b"a" * 17 * KIB]).run(app, "/small").status == 413
    assert Exchange([b"a" * 17 * KIB]).run(app, "/echo").status == 200


def test_the_sidecar_bounds_every_path_and_counts_refused_webhooks() -> None:
    app = build_app(Readiness({}))
    assert Exchange([b"{}"], declared=17 * KIB).run(app, "/api/send").status == 413
    assert Exchange([b""], declared=65 * KIB).run(app, "/nowhere").status == 413
    labels = {"kind": "inbound", "outcome": "too_large"}
    before = REGISTRY.get_sample_value("smsync_webhooks_total", labels) or 0.0
    assert Exchange([b"a" * KIB] * 65).run(app, "/webhooks/twilio/inbound").status == 413
    assert REGISTRY.get_sample_value("smsync_webhooks_total", labels) == before + 1


def _leaky(message: str) -> Callable[[Request], Awaitable[Response]]:
    async def boom(_: Request) -> Response:
        raise ValueError(message)

    return boom


def test_an_unhandled_exception_is_a_500_with_an_error_id_and_no_leak() -> None:
    app = app_with(
        Route("/boom", _leaky(f"bad To {PHONE}: {TEXT}"), methods=["POST"]),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    with capture_logs(processors=[logs.redact]) as events:
        done = Exchange([b"{}"]).run(app, "/boom")
    assert done.status == 500
    answer = json.loads(done.body)
    [event] = [e for e in events if e["event"] == "http.unhandled"]
    assert event["error_id"] == answer["error_id"]
    assert len(answer["error_id"]) == 8
    assert event["error"] == "ValueError"
    flat = json.dumps(events) + done.body.decode()
    assert PHONE not in flat
    assert TEXT not in flat


def test_an_exception_outside_starlette_is_answered_by_the_guard() -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError(TEXT)

    with capture_logs(processors=[logs.redact]) as events:
        done = Exchange([b"{}"]).run(guarded(raw))
    assert done.status == 500
    assert [e["error"] for e in events if e["event"] == "http.unhandled"] == ["RuntimeError"]
    assert TEXT not in json.dumps(events)


def test_an_exception_after_the_answer_started_is_logged_once_and_swallowed() -> None:
    async def late(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError(TEXT)

    with capture_logs(processors=[logs.redact]) as events:
        done = Exchange([b"{}"]).run(guarded(late))
    assert done.status == 200  # what had gone out; nothing more is sent
    assert len(done.sent) == 1
    assert len([e for e in events if e["event"] == "http.unhandled"]) == 1
