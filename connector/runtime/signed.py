"""What every Twilio webhook endpoint does around the signature check: the URL Twilio
signed, and the refusal of a request whose signature does not hold."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response

from connector.metrics import WEBHOOKS
from connector.sms.twilio import signature

log = structlog.get_logger(__name__)


def signed_url(request: Request, public_base_url: str | None, path: str) -> str:
    """The URL Twilio signed: the public base URL when configured (a proxy in front of
    smsync rewrites the host), else this request's."""
    if public_base_url is not None:
        return signature.public_url(public_base_url, path, request.url.query)
    return str(request.url)


def forbidden(kind: str, given: str | None) -> Response:
    """403, counted and logged (never the body: it may hold a phone number)."""
    WEBHOOKS.labels(kind, "forbidden").inc()
    log.warning(
        "webhook.forbidden",
        kind=kind,
        reason="missing signature" if not given else "signature mismatch",
    )
    return Response("invalid signature", status_code=403, media_type="text/plain")
