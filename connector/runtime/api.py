"""`POST /api/send`: a manual send over HTTP, through the same chokepoint as the CLI.

    Authorization: Bearer <SMSYNC_API_TOKEN>          401 without it, or with another
    {"contact": "<crm id>", "play": "<play>", "body": "...", "dry_run": false,
     "idempotency_key": "<caller's request id>"}       body and the last two optional

    200  sent (or allowed, on a dry run)     202  deferred: queued for `send_at`
    409  blocked by governance (reasons)     404  unknown contact
    400  malformed request or unknown play   401  no or wrong token

The body of every answer but 401 is the decision: verdict, reasons (code and detail),
send_at, and the provider sid when it went. The same `idempotency_key` twice is one send.
The token is compared in constant time, and is unset by default: the route refuses
everyone until an operator sets it."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.config import Settings
from connector.domain.model import Verdict
from connector.domain.policy import Policy
from connector.engine.manual import ManualResult, UnknownContactError, manual_send
from connector.engine.send import SendContext, policy_of
from connector.errors import ConfigError
from connector.logs import register_secret

MAX_BODY_BYTES = 16 * 1024
_STATUS = {Verdict.ALLOW: 200, Verdict.DEFER: 202, Verdict.BLOCK: 409}


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "unauthorized: send 'Authorization: Bearer <SMSYNC_API_TOKEN>'"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="smsync"'},
    )


def _authorized(request: Request, token: bytes | None) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if token is None or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token)


class _BadRequest(Exception):  # noqa: N818 - internal: becomes a 400
    pass


@dataclass(frozen=True, slots=True)
class _SendRequest:
    contact: str
    play: str
    body: str | None
    dry_run: bool
    request_id: str | None


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest(f"'{name}' must be a non-empty string")
    return value


def _parse(raw: bytes) -> _SendRequest:
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise _BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("expected a JSON object")
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise _BadRequest("'dry_run' must be true or false")
    return _SendRequest(
        contact=_text(data, "contact", required=True) or "",
        play=_text(data, "play", required=True) or "",
        body=_text(data, "body"),
        dry_run=dry_run,
        request_id=_text(data, "idempotency_key"),
    )


def _status(result: ManualResult) -> int:
    if result.outcome in ("blocked", "failed"):
        return 409
    if result.outcome == "deferred":
        return 202
    return _STATUS[result.verdict]


def api_routes(
    settings: Settings, ctx: SendContext, *, policy: Policy | None = None
) -> list[BaseRoute]:
    """The API's routes, for the sidecar's app. `ctx` is the engine context (its store,
    SMS port, clock and planner); `policy` defaults to the planner's."""
    secret = settings.api_token.get_secret_value() if settings.api_token else None
    if secret:
        register_secret(secret)
    token = secret.encode() if secret else None
    chosen = policy if policy is not None else policy_of(ctx)

    async def send(request: Request) -> Response:
        if not _authorized(request, token):
            return _unauthorized()
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        try:
            req = _parse(raw)
        except _BadRequest as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        call = partial(
            manual_send,
            ctx.store,
            ctx.sms,
            ctx.clock,
            chosen,
            contact_id=req.contact,
            play=req.play,
            body=req.body,
            dry_run=req.dry_run,
            request_id=req.request_id,
            worker_id=ctx.worker_id,
        )
        try:
            result = await anyio.to_thread.run_sync(call)
        except UnknownContactError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result.as_dict(), status_code=_status(result))

    return [Route("/api/send", send, methods=["POST"])]
