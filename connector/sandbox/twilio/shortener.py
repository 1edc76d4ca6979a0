"""Twilio Link Shortening, emulated: a Messaging Service send with `ShortenUrls=true` has
each URL of its body replaced by `https://<domain>/<ten alphanumerics>` (the body the
handset gets and the API shows), and a handset opening one of them makes Twilio POST its
click event to the domain's configured callback URL.

The click event is the documented JSON body (`event_type=click`, `sms_sid`, `to`, `from`,
`link` (the long URL), `click_time`, `messaging_service_sid`, `account_sid`,
`user_agent`), signed as Twilio signs a JSON webhook: `bodySHA256` (hex SHA-256 of the
body) added to the URL's query, and X-Twilio-Signature over that URL with no parameters.
Twilio keeps a short link 90 days; the sandbox keeps them until reset. `ShortenUrls` on a
send without a Messaging Service is ignored here (Link Shortening is a Messaging Service
feature; what Twilio answers then is unconfirmed)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from connector.sandbox.twilio.network import signature

URL = re.compile(r"https?://[^\s<>\"]+")
ALPHABET = string.ascii_letters + string.digits
DEFAULT_DOMAIN = "sms.acme.test"


@dataclass(frozen=True, slots=True)
class ShortLink:
    code: str
    long_url: str
    sid: str
    to: str
    from_: str | None
    service: str | None
    created: datetime


class Shortener:
    """The short links of the account's Link Shortening domain, and their click events."""

    def __init__(self) -> None:
        self.domain = DEFAULT_DOMAIN
        self.callback_url: str | None = None  # None: <webhook base>/webhooks/twilio/click
        self.links: dict[str, ShortLink] = {}
        self.log: list[dict[str, Any]] = []
        self.last_body = b""  # the last click event posted (a test replays it)

    def reset(self) -> None:
        self.domain = DEFAULT_DOMAIN
        self.callback_url = None
        self.links.clear()
        self.log.clear()
        self.last_body = b""

    def shorten(self, body: str, *, sid: str, to: str, service: str | None, now: datetime) -> str:
        """`body` with every URL replaced by a new short link of this message."""

        def swap(match: re.Match[str]) -> str:
            code = "".join(secrets.choice(ALPHABET) for _ in range(10))
            self.links[code] = ShortLink(code, match.group(0), sid, to, None, service, now)
            return f"https://{self.domain}/{code}"

        return URL.sub(swap, body)

    def find(self, short_url: str) -> ShortLink | None:
        parts = urlsplit(short_url if "://" in short_url else f"https://{short_url}")
        return self.links.get(parts.path.strip("/")) if parts.hostname == self.domain else None

    @staticmethod
    def event(
        link: ShortLink, *, account_sid: str, sender: str | None, agent: str, now: datetime
    ) -> bytes:
        body = {
            "event_type": "click",
            "sms_sid": link.sid,
            "to": link.to,
            "from": sender or "",
            "link": link.long_url,
            "click_time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "messaging_service_sid": link.service or "",
            "account_sid": account_sid,
            "user_agent": agent,
        }
        return json.dumps(body).encode()

    async def post(self, auth_token: str, url: str, body: bytes) -> dict[str, Any]:
        """POST one signed click event; what happened, as the deliveries log keeps it."""
        sep = "&" if urlsplit(url).query else "?"
        signed = f"{url}{sep}{urlencode({'bodySHA256': hashlib.sha256(body).hexdigest()})}"
        headers = {
            "X-Twilio-Signature": signature(auth_token, signed, {}),
            "Content-Type": "application/json",
            "User-Agent": "TwilioProxy/1.1",
        }
        self.last_body = body
        entry: dict[str, Any] = {"kind": "click", "url": signed, "status_code": None}
        try:
            async with httpx.AsyncClient(timeout=15.0) as http:
                answer = await http.post(signed, content=body, headers=headers)
            entry["status_code"] = answer.status_code
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        self.log.append(entry)
        return entry
