"""The two ASGI layers around the whole sidecar app: bounded request bodies, and one error
handler that no exception gets past.

`BodyLimit` refuses a body over its route's limit while it is being read: a declared
Content-Length over the limit is answered 413 before a byte of the body is read, and a
chunked body is counted as it arrives and refused as soon as it crosses the limit. So an
unsigned 300 MB POST costs the process nothing but the 413, and the limit holds before
any signature check or JSON parse sees the body. Bodies within the limit are buffered
(they are small) and replayed to the app.

`ErrorGuard` sits outside everything: an unhandled exception is answered 500 with a short
error id, logged once through the redacting pipeline with the id and the exception's type
only (never its message or the request's parameters, which may hold phone numbers and
texts), and never reaches uvicorn, whose own traceback would print them. The id in the
answer is the one in the log, so a caller's report can be matched to it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

ERROR_ID = "smsync.error_id"  # the scope key that says an error was already answered
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def _json(status: int, body: dict[str, str], *, close: bool = False) -> list[Message]:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if close:  # the rest of an oversized body is not worth reading: end the connection
        headers.append((b"connection", b"close"))
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": raw, "more_body": False},
    ]


class BodyLimit:
    """Request bodies at most `default` bytes, or `limits[path]` for the paths named."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int = DEFAULT_MAX_BODY_BYTES,
        limits: Mapping[str, int] | None = None,
        on_refused: Callable[[str], object] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits or {})
        self.on_refused = on_refused

    def limit_for(self, path: str) -> int:
        return self.limits.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.limit_for(path)
        declared = _content_length(scope)
        if declared == -1:
            await _send_all(
                send, _json(400, {"error": "Content-Length is not a number"}, close=True)
            )
            return
        if declared is not None and declared > limit:
            await self._refuse(send, path, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, path, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, path: str, limit: int) -> None:
        if self.on_refused is not None:
            self.on_refused(path)
        log.warning("http.body_too_large", path=path, limit_bytes=limit)
        error = f"request body too large: at most {limit:,} bytes"
        await _send_all(send, _json(413, {"error": error}, close=True))


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent (chunked), -1 when not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 18 else -1
    return None


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)


def new_error_id() -> str:
    return secrets.token_hex(4)


def _answer(error_id: str) -> dict[str, str]:
    return {
        "error": f"internal error; the operator finds it in the logs as error_id {error_id}",
        "error_id": error_id,
    }


def _log(scope: Scope, exc: BaseException, error_id: str) -> None:
    log.error(
        "http.unhandled",
        error_id=error_id,
        error=type(exc).__name__,
        method=scope.get("method"),
        path=scope.get("path"),
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Starlette's handler for any exception: the 500 with its error id (Starlette then
    re-raises, and `ErrorGuard` sees the id in the scope and stays quiet)."""
    error_id = new_error_id()
    request.scope[ERROR_ID] = error_id
    _log(request.scope, exc, error_id)
    return JSONResponse(_answer(error_id), status_code=500)


EXCEPTION_HANDLERS = {Exception: server_error}


class ErrorGuard:
    """The outermost layer: whatever is raised inside ends here, answered and logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - the one place that answers the unexpected
            error_id = scope.get(ERROR_ID)
            if error_id is None:
                error_id = new_error_id()
                _log(scope, exc, error_id)
            if not started:
                await _send_all(send, _json(500, _answer(str(error_id))))


def guarded(
    app: ASGIApp,
    *,
    limits: Mapping[str, int] | None = None,
    default_limit: int = DEFAULT_MAX_BODY_BYTES,
    on_refused: Callable[[str], object] | None = None,
) -> ASGIApp:
    """`app` behind the error guard and the body limits (outermost first)."""
    return ErrorGuard(BodyLimit(app, default=default_limit, limits=limits, on_refused=on_refused))
