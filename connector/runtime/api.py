"""`POST /api/send`: a manual send over HTTP, through the same chokepoint as the CLI.

    Authorization: Bearer <SMSYNC_API_TOKEN>          401 without it, or with another
    {"contact": "<crm id>", "play": "<play>", "body": "...", "dry_run": false,
     "idempotency_key": "<caller's request id>"}       body and the last two optional

    200  sent (or allowed, on a dry run)
    202  accepted, not settled: deferred (queued for `send_at`), in_flight (the provider
         has not answered within SMSYNC_API_SEND_TIMEOUT_S), ambiguous (its answer was
         lost) or retried (throttled); `detail` says what happens next
    409  blocked by governance (reasons), or refused by the provider
    404  unknown contact          422  idempotency_key reused for a different request
    400  malformed request (see `api_request`), unknown play
    401  no or wrong token        413  body over 16 KiB (refused while it is read)

The body of every answer but 401/413 is the decision: verdict, reasons (code and detail),
send_at, outcome and the provider sid when it went.

Idempotency: the first request with a key decides and sends; every repeat of the key (at
once, later, on any replica) gets that request's answer, waiting up to the send timeout
for it to settle. Where that send was still open (in flight, deferred, ambiguous), a
repeat shows how it has ended since. One key is one decision and at most one text. Dry
runs and requests without a key are not remembered.

The deadline: a send whose provider does not answer in time is never abandoned nor sent
again. It carries on in the background (the outbox row stays claimed; an ambiguous answer
is reconciled with the provider before any retry), and the request is answered 202
`in_flight` at the deadline. The token is compared in constant time, and is unset by
default: the route refuses everyone until an operator sets it."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import anyio
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.config import Settings
from connector.domain.model import Verdict
from connector.domain.policy import Policy
from connector.engine.links import LinkMaker
from connector.engine.manual import Decided, ManualResult, UnknownContactError, decide, send_now
from connector.engine.send import SendContext, policy_of
from connector.errors import ConfigError
from connector.logs import register_secret
from connector.runtime.api_request import BadRequest, SendRequest, parse
from connector.store import api_requests, sms_outbox
from connector.store.api_requests import ApiRequestRow
from connector.store.records import SmsOutboxRow

log = structlog.get_logger(__name__)

SEND_PATH = "/api/send"
MAX_BODY_BYTES = 16 * 1024
SETTLED = frozenset({"sent", "reconciled", "blocked", "failed"})
OPEN_DETAIL = {
    "in_flight": "the provider has not answered within SMSYNC_API_SEND_TIMEOUT_S; the text "
    "is being sent in the background and, if the answer stays ambiguous, reconciled with "
    "the provider before any retry (never sent twice); repeat the request with the same "
    "idempotency_key for the outcome",
    "ambiguous": "the provider's answer was lost; the send is reconciled with the provider "
    "before any retry (never sent twice)",
    "retried": "the provider did not take the text (throttled or unavailable); the send "
    "job tries again",
}
T = TypeVar("T")


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


def status_of(result: ManualResult) -> int:
    if result.verdict is Verdict.BLOCK or result.outcome in ("blocked", "failed"):
        return 409
    if result.verdict is Verdict.DEFER or result.outcome in (*OPEN_DETAIL, "deferred"):
        return 202
    return 200


def answer_of(result: ManualResult) -> tuple[int, dict[str, Any]]:
    shown = replace(result, detail=OPEN_DETAIL.get(result.outcome or ""))
    return status_of(shown), shown.as_dict()


def since_then(row: ApiRequestRow, outbox: SmsOutboxRow | None) -> tuple[int, dict[str, Any]]:
    """A stored answer, with how its send ended since when it was still open then."""
    body = dict(row.response)
    if body.get("outcome") in SETTLED or body.get("verdict") == "block" or outbox is None:
        return row.status, body
    if outbox.state == "sent":
        body.update(outcome="sent", sid=outbox.provider_sid, detail=None)
        return 200, body
    if outbox.state == "failed":
        blocked = (outbox.last_error or "").startswith(("blocked", "provider_opt_out"))
        body.update(outcome="blocked" if blocked else "failed", detail=None)
        return 409, body
    if outbox.state == "ambiguous":
        body.update(outcome="ambiguous", detail=OPEN_DETAIL["ambiguous"])
        return 202, body
    return row.status, body


def _in_background(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run `fn` in a daemon thread; the future settles when it returns. Unlike a request
    handler's thread, it outlives the request, and shutdown does not wait for it (a send
    cut off there is safe: its outbox row is leased, then reconciled)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: Exception | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(), None
        except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the future
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown): nobody waits
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=run, name="smsync-api-send", daemon=True).start()
    # retrieved here so that a failure nobody awaits any more is not printed by asyncio
    future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
    return future


class SendApi:
    """The route's state: the engine context, and the sends of this process still open."""

    def __init__(self, settings: Settings, ctx: SendContext, policy: Policy) -> None:
        secret = settings.api_token.get_secret_value() if settings.api_token else None
        if secret:
            register_secret(secret)
        self.token = secret.encode() if secret else None
        self.ctx = ctx
        self.links = LinkMaker.from_settings(settings)
        self.policy = policy
        self.timeout_s = settings.api_send_timeout_s
        self.open: dict[str, asyncio.Future[ManualResult]] = {}

    async def send(self, request: Request) -> Response:
        if not _authorized(request, self.token):
            return _unauthorized()
        deadline = time.monotonic() + self.timeout_s
        try:
            req = parse(await request.body())  # the body is bounded by BodyLimit
        except BadRequest as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        first = await self._decided(req)
        if isinstance(first, Response):
            return first
        if isinstance(first, ApiRequestRow):
            return await self._repeat(req, first, deadline)
        if first.row is None:
            return _reply(*answer_of(first.result))
        return await self._sent(req, first, deadline)

    async def _sent(self, req: SendRequest, decided: Decided, deadline: float) -> Response:
        """The send's answer, or 'in flight' at the deadline while it carries on."""
        sending = self._send(req, decided)
        try:
            done = await asyncio.wait_for(
                asyncio.shield(sending), max(deadline - time.monotonic(), 0)
            )
        except TimeoutError:
            log.info("api.send_in_flight", play=req.play, timeout_s=self.timeout_s)
            return _reply(*answer_of(replace(decided.result, outcome="in_flight")))
        return _reply(*answer_of(done))

    async def _decided(self, req: SendRequest) -> Decided | ApiRequestRow | Response:
        try:
            return await anyio.to_thread.run_sync(self._decide, req)
        except UnknownContactError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    def _decide(self, req: SendRequest) -> Decided | ApiRequestRow:
        """The decision, committed with the claim of the idempotency key (and the lease
        of a text that goes now); or the row of the request that claimed the key first."""
        now = self.ctx.clock.now()
        key = None if req.dry_run else req.idempotency_key
        with self.ctx.store.begin() as conn:
            if key is not None and not api_requests.claim(conn, key, req.fingerprint, now):
                found = api_requests.get(conn, key)
                if found is None:  # the claim conflicted, so the row is committed
                    raise RuntimeError("idempotency key claimed but not found")
                return found
            decided = decide(
                conn,
                self.policy,
                now,
                contact_id=req.contact,
                play=req.play,
                body=req.body,
                dry_run=req.dry_run,
                request_id=req.idempotency_key,
                claim_as=self.ctx.worker_id if self.ctx.sms is not None else None,
            )
            if key is not None:
                going = decided.row is not None
                shown = replace(decided.result, outcome="in_flight") if going else decided.result
                status, body = answer_of(shown)
                api_requests.answer(
                    conn,
                    key,
                    status=status,
                    response=body,
                    outbox_key=decided.key,
                    settled_at=None if going else now,
                )
        return decided

    def _send(self, req: SendRequest, decided: Decided) -> asyncio.Future[ManualResult]:
        """The send, in the background; its answer is stored when it settles (and if it
        fails, the 'in flight' answer stands settled, to be read against the outbox)."""
        ctx, policy, caller_key, sms = self.ctx, self.policy, req.idempotency_key, self.ctx.sms
        assert sms is not None  # decide leases a row only when there is an SMS port

        def failed(exc: Exception) -> None:
            log.error("api.send_failed", play=req.play, error=type(exc).__name__)
            if caller_key is not None:
                with contextlib.suppress(Exception):
                    in_flight = replace(decided.result, outcome="in_flight")
                    _store_settled(ctx, caller_key, in_flight, decided.key, ctx.clock.now())

        def work() -> ManualResult:
            try:
                done = send_now(
                    ctx.store,
                    sms,
                    ctx.clock,
                    policy,
                    decided,
                    worker_id=ctx.worker_id,
                    links=self.links,
                )
            except Exception as exc:
                failed(exc)
                raise
            if caller_key is not None:
                _store_settled(ctx, caller_key, done, decided.key, ctx.clock.now())
            return done

        sending = _in_background(work)
        if caller_key is not None:
            self.open[caller_key] = sending
            sending.add_done_callback(lambda _: self.open.pop(caller_key, None))
        return sending

    async def _repeat(self, req: SendRequest, row: ApiRequestRow, deadline: float) -> Response:
        """A repeat of a key: the first request's answer, once it has settled (or as it
        stands at the deadline)."""
        if row.fingerprint != req.fingerprint:
            return JSONResponse(
                {
                    "error": f"idempotency_key {req.idempotency_key!r} was first used for a "
                    "different contact, play or body; use a new key for a new request"
                },
                status_code=422,
            )
        key = row.idempotency_key
        pause = 0.05
        outbox = None
        while True:
            row, outbox = await anyio.to_thread.run_sync(self._load, key)
            left = deadline - time.monotonic()
            # a first request that died mid-send never settles its row; the send job does
            ended = outbox is not None and outbox.state in ("sent", "failed")
            if row.settled or ended or left <= 0:
                break
            sending = self.open.get(key)
            if sending is not None:  # sent from this process: woken when it settles
                await asyncio.wait({sending}, timeout=left)
            else:  # another replica (or an earlier process) sends it: look again
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, 0.5)
        return _reply(*since_then(row, outbox))

    def _load(self, key: str) -> tuple[ApiRequestRow, SmsOutboxRow | None]:
        with self.ctx.store.begin() as conn:
            row = api_requests.get(conn, key)
            if row is None:
                raise RuntimeError("idempotency key vanished")
            outbox = sms_outbox.by_key(conn, row.outbox_key) if row.outbox_key else None
        return row, outbox

    def routes(self) -> list[BaseRoute]:
        return [Route(SEND_PATH, self.send, methods=["POST"])]


def _store_settled(
    ctx: SendContext, caller_key: str, done: ManualResult, outbox_key: str | None, now: datetime
) -> None:
    status, body = answer_of(done)
    with ctx.store.begin() as conn:
        api_requests.answer(
            conn, caller_key, status=status, response=body, outbox_key=outbox_key, settled_at=now
        )


def _reply(status: int, body: dict[str, Any]) -> Response:
    return JSONResponse(body, status_code=status)


def api_routes(
    settings: Settings, ctx: SendContext, *, policy: Policy | None = None
) -> list[BaseRoute]:
    """The API's routes, for the sidecar's app. `ctx` is the engine context (its store,
    SMS port, clock and planner); `policy` defaults to the planner's."""
    chosen = policy if policy is not None else policy_of(ctx)
    return SendApi(settings, ctx, chosen).routes()
