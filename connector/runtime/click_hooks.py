"""Twilio Link Shortening's click events (`SMSYNC_LINK_TRACKING=twilio`): the route that
takes them in place of smsync's own `GET /l/{token}`.

    POST /webhooks/twilio/click   200 once the click is committed (or ignored)

Twilio posts a JSON body (`event_type=click`, `sms_sid`, `link` (the long link it
shortened), `click_time`, `user_agent`, `to`, `from`, `messaging_service_sid`,
`account_sid`) and signs it through the URL (`bodySHA256`, see
`connector.sms.twilio.signature.verify_json`). Order of checks, as for the other
webhooks: a body over 16 KiB is 413 while it is read (`http_guard.BodyLimit`); a bad or
missing signature is 403 before the body is parsed; a signed body that is not a click
event is 400 naming the field; a click on a message or link smsync did not send is 200
and ignored (Twilio would only retry an error), logged without the phone number. A click
is recorded by the same rules as the redirect's (`engine/clicks.record_provider`): once
per text and link, previewers and a click within a second of delivery flagged, so the
record's activity and task follow exactly once (the ingest job, woken by the answer)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.engine.clicks import Click, record_provider
from connector.metrics import LINK_CLICKS, WEBHOOKS
from connector.ports import Clock, Connection, Store
from connector.runtime.group_commit import GroupCommit
from connector.runtime.signed import forbidden, signed_url
from connector.sms.twilio import signature

log = structlog.get_logger(__name__)

CLICK_HOOK_PATH = "/webhooks/twilio/click"
MAX_BODY_BYTES = 16 * 1024  # a click event is well under 1 KiB
UA_MAX = 1_000


class MalformedClickError(ValueError):
    """A signed body that is not a Link Shortening click event."""


def parse_click(raw: bytes, now: datetime) -> tuple[str, str, str | None, datetime]:
    """(message sid, long link, user agent, click time) of a click event."""
    try:
        body: Any = json.loads(raw)
    except ValueError as exc:
        raise MalformedClickError("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedClickError("the body is not a JSON object")
    if body.get("event_type", "click") != "click":
        raise MalformedClickError("event_type: only 'click' events are taken")
    sid = body.get("sms_sid") or body.get("message_sid")
    if not isinstance(sid, str) or not sid.startswith(("SM", "MM")) or len(sid) != 34:
        raise MalformedClickError("sms_sid: expected a message sid (SM + 32 hex)")
    link = body.get("link")
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise MalformedClickError("link: expected the long URL that was shortened")
    agent = body.get("user_agent")
    if agent is not None and not isinstance(agent, str):
        raise MalformedClickError("user_agent: expected a string")
    return sid, link, (agent or "")[:UA_MAX] or None, _when(body, now)


def _when(body: dict[str, Any], now: datetime) -> datetime:
    """The click's time from `click_time` (or `clicked_at`): ISO 8601 or epoch seconds."""
    value = body.get("click_time", body.get("clicked_at"))
    if value is None:
        return now
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            when = datetime.fromisoformat(value)
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise MalformedClickError("click_time: expected an ISO 8601 time") from exc
    raise MalformedClickError("click_time: expected an ISO 8601 time")


class ClickHook:
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
        self.clock = clock
        self.commits: GroupCommit[Click | None] = GroupCommit(store, concurrency=db_concurrency)

    async def click(self, request: Request) -> Response:
        raw = await request.body()  # bounded by BodyLimit while it was read
        given = request.headers.get("x-twilio-signature")
        url = signed_url(request, self.public_base_url, CLICK_HOOK_PATH)
        if not signature.verify_json(self.auth_token, url, raw, given):
            return forbidden("click", given)
        try:
            sid, link, agent, at = parse_click(raw, self.clock.now())
        except MalformedClickError as exc:
            WEBHOOKS.labels("click", "malformed").inc()
            return Response(str(exc), status_code=400, media_type="text/plain")
        found = await self.commits.run(
            partial(self._record, sid=sid, url=link, user_agent=agent, at=at)
        )
        if found is None:
            WEBHOOKS.labels("click", "ignored").inc()
            LINK_CLICKS.labels("not_found").inc()
            log.info("click.unknown", sid=sid)
            return Response(status_code=200)
        WEBHOOKS.labels("click", "new" if found.first else "duplicate").inc()
        LINK_CLICKS.labels(found.flag.value if found.first else "repeat").inc()
        return Response(status_code=200)

    @staticmethod
    def _record(
        conn: Connection, *, sid: str, url: str, user_agent: str | None, at: datetime
    ) -> Click | None:
        return record_provider(conn, sid, url, user_agent, at)

    def routes(self) -> list[BaseRoute]:
        return [Route(CLICK_HOOK_PATH, self.click, methods=["POST"])]
