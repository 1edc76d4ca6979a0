"""The webhook routes of the sidecar's ASGI app: Twilio inbound messages and status
callbacks, verified, then stored in the inbox before the answer goes back.

    POST /webhooks/twilio/inbound   200 with empty TwiML, once the inbox row is committed
    POST /webhooks/twilio/status    204, once the inbox row and the status are committed
    POST /webhooks/twilio/click     Link Shortening click events, with
                                    SMSYNC_LINK_TRACKING=twilio (connector.runtime.click_hooks)

Order of checks, so that nothing untrusted has an effect: a body over 64 KiB is 413 while
it is read (`http_guard.BodyLimit`, before anything else); a bad or missing signature is
403 before the body is even parsed into an event; a signed request that is not what
Twilio sends (a missing field, a field out of its documented range or shape, a NUL; see
`connector.sms.twilio.webhooks`) is 400 naming the field; only then does the database
see anything. A duplicate (the same provider id) is answered like the first delivery and
changes nothing: the inbox's unique key decides, so it holds across replicas."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, Literal
from urllib.parse import parse_qsl

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from connector.clock import UtcClock
from connector.config import Settings
from connector.errors import ConfigError
from connector.logs import mask_phone, register_secret
from connector.metrics import INTAKE_SECONDS, WEBHOOKS
from connector.ports import Clock, Connection, Store
from connector.runtime.click_hooks import CLICK_HOOK_PATH, ClickHook
from connector.runtime.click_hooks import MAX_BODY_BYTES as CLICK_MAX_BODY_BYTES
from connector.runtime.group_commit import GroupCommit
from connector.runtime.http_guard import EXCEPTION_HANDLERS, guarded
from connector.runtime.signed import forbidden, signed_url
from connector.sms.twilio import signature
from connector.sms.twilio.client import INBOUND_PATH, STATUS_PATH
from connector.sms.twilio.webhooks import (
    InboundEvent,
    MalformedWebhookError,
    StatusEvent,
    parse_inbound,
    parse_status,
)
from connector.store import inbox, messages

log = structlog.get_logger(__name__)
Kind = Literal["inbound", "status"]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY_BYTES = 64 * 1024  # Twilio's parameters fit well under this
BODY_LIMITS = {
    INBOUND_PATH: MAX_BODY_BYTES,
    STATUS_PATH: MAX_BODY_BYTES,
    CLICK_HOOK_PATH: CLICK_MAX_BODY_BYTES,
}
_KINDS: dict[str, str] = {INBOUND_PATH: "inbound", STATUS_PATH: "status", CLICK_HOOK_PATH: "click"}


def count_refused(path: str) -> None:
    """`BodyLimit`'s callback: a webhook refused for its size counts as `too_large`."""
    kind = _KINDS.get(path)
    if kind is not None:
        WEBHOOKS.labels(kind, "too_large").inc()


def store_inbound(conn: Connection, event: InboundEvent, now: datetime) -> bool:
    """True when this delivery was the first of its MessageSid."""
    return inbox.insert_if_new(conn, event.provider_id, "inbound", event.payload("webhook"), now)


def store_status(conn: Connection, event: StatusEvent, now: datetime) -> bool:
    """The callback into the inbox and, when new, onto the message's state machine (a
    regression is kept as a raw event and changes nothing)."""
    if not inbox.insert_if_new(conn, event.provider_id, "status", event.payload("webhook"), now):
        return False
    messages.apply_status(
        conn,
        event.sid,
        event.status,
        at=event.at,
        now=now,
        error_code=event.error_code,
        raw=event.raw,
    )
    return True


class TwilioWebhooks:
    """The two endpoints over one store. Database work runs in worker threads, at most
    one at a time on SQLite (one writer anyway: queueing here beats busy-wait polling)."""

    def __init__(
        self,
        *,
        auth_token: str,
        public_base_url: str | None,
        store: Store,
        clock: Clock,
        db_concurrency: int,
    ) -> None:
        self.auth_token = auth_token
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.store = store
        self.clock = clock
        self.commits: GroupCommit[bool] = GroupCommit(store, concurrency=db_concurrency)

    async def _verified(self, request: Request, path: str, kind: Kind) -> dict[str, str] | Response:
        raw = await request.body()  # bounded by BodyLimit while it was read
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        given = request.headers.get("x-twilio-signature")
        url = signed_url(request, self.public_base_url, path)
        if not signature.verify(self.auth_token, url, pairs, given):
            return forbidden(kind, given)
        params: dict[str, str] = {}
        for name, value in pairs:
            params.setdefault(name, value)
        return params

    async def _commit(self, fn: Callable[[Connection], bool]) -> bool:
        """Run `fn` in a committed transaction; returns once the commit is durable (with
        one writer, SQLite, requests that arrive while a commit runs are committed
        together: `group_commit`)."""
        return await self.commits.run(fn)

    async def inbound(self, request: Request) -> Response:
        started = time.perf_counter()
        params = await self._verified(request, INBOUND_PATH, "inbound")
        if isinstance(params, Response):
            return params
        try:
            event = parse_inbound(params, self.clock.now())
        except MalformedWebhookError as exc:
            WEBHOOKS.labels("inbound", "malformed").inc()
            return Response(str(exc), status_code=400, media_type="text/plain")
        new = await self._commit(partial(store_inbound, event=event, now=event.at))
        self._done("inbound", new, started, event.sid, event.from_)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def status(self, request: Request) -> Response:
        started = time.perf_counter()
        params = await self._verified(request, STATUS_PATH, "status")
        if isinstance(params, Response):
            return params
        try:
            event = parse_status(
                params, self.clock.now(), idempotency_key=request.query_params.get("k")
            )
        except MalformedWebhookError as exc:
            WEBHOOKS.labels("status", "malformed").inc()
            return Response(str(exc), status_code=400, media_type="text/plain")
        new = await self._commit(partial(store_status, event=event, now=event.at))
        self._done("status", new, started, event.sid, params.get("To", ""))
        return Response(status_code=204)

    @staticmethod
    def _done(kind: Kind, new: bool, started: float, sid: str, phone: str) -> None:
        INTAKE_SECONDS.labels(kind).observe(time.perf_counter() - started)
        WEBHOOKS.labels(kind, "new" if new else "duplicate").inc()
        if not new:
            log.info("webhook.duplicate", kind=kind, sid=sid, phone=mask_phone(phone))
        else:  # the MessageSid is the correlation id from here to the CRM write
            log.debug("webhook.accepted", kind=kind, correlation_id=sid, phone=mask_phone(phone))

    def routes(self) -> list[BaseRoute]:
        return [
            Route(INBOUND_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
        ]


def webhook_routes(
    settings: Settings,
    store: Store,
    *,
    clock: Clock | None = None,
    db_concurrency: int | None = None,
) -> list[BaseRoute]:
    """The Twilio webhook routes, for the runtime to mount beside health and metrics."""
    token = settings.twilio_auth_token
    if token is None or not token.get_secret_value():
        raise ConfigError(
            "TWILIO_AUTH_TOKEN (or TWILIO_AUTH_TOKEN_FILE) is required to verify webhooks"
        )
    register_secret(token.get_secret_value())
    if settings.public_base_url is None:
        log.warning(
            "webhook.no_public_base_url",
            hint="set SMSYNC_PUBLIC_BASE_URL when a proxy sits in front of the sidecar",
        )
    if db_concurrency is None:
        dialect = _dialect(store) or settings.database_url.split(":", 1)[0]
        db_concurrency = 1 if dialect.startswith("sqlite") else 8
    hooks = TwilioWebhooks(
        auth_token=token.get_secret_value(),
        public_base_url=settings.public_base_url,
        store=store,
        clock=clock or UtcClock(),
        db_concurrency=db_concurrency,
    )
    routes = hooks.routes()
    if settings.link_tracking == "twilio":  # Twilio Link Shortening's click events
        clicks = ClickHook(
            auth_token=token.get_secret_value(),
            public_base_url=settings.public_base_url,
            store=store,
            clock=hooks.clock,
            db_concurrency=db_concurrency,
        )
        routes += clicks.routes()
    return routes


def _dialect(store: Any) -> str | None:
    name = getattr(store, "dialect", None)
    return name if isinstance(name, str) else None


def build_webhook_app(
    settings: Settings,
    store: Store,
    *,
    clock: Clock | None = None,
    db_concurrency: int | None = None,
) -> ASGIApp:
    """An app serving only the webhook routes (tests, benchmarks), behind the same body
    limits and error guard as the sidecar's."""
    app = Starlette(
        routes=webhook_routes(settings, store, clock=clock, db_concurrency=db_concurrency),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    return guarded(app, limits=BODY_LIMITS, on_refused=count_refused)
