"""X-Twilio-Signature, computed and checked by our own code (tested against Twilio's SDK).

The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name,
name then value)). The URL is the one Twilio called, so behind a proxy it is rebuilt from
the configured public base URL, never from the Host header the proxy forwarded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return list(items)


def compute(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str:
    """The signature Twilio sends for a form POST of `params` to `url`.

    A repeated name signs each distinct value once, sorted by name then value (as
    Twilio's SDK does)."""
    payload = url + "".join(name + value for name, value in sorted(set(_pairs(params))))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _with_default_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is not None or parts.scheme not in {"http", "https"}:
        return url
    port = 443 if parts.scheme == "https" else 80
    netloc = (f"{parts.username}@" if parts.username else "") + f"{parts.hostname}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def verify(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
) -> bool:
    """True when `signature` is Twilio's for this URL and these parameters.

    Compared in constant time. Twilio signs `https` URLs with or without the default port
    depending on how the webhook URL was configured, so both spellings are accepted."""
    if not signature or not auth_token:
        return False
    given = signature.encode("ascii", "replace")
    pairs = _pairs(params)
    candidates = {url, _without_port(url), _with_default_port(url)}
    ok = False
    for candidate in sorted(candidates):  # check all: timing does not reveal which matched
        ok |= hmac.compare_digest(compute(auth_token, candidate, pairs).encode(), given)
    return ok


def public_url(public_base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio called: the configured public base, the request path and its query."""
    base = public_base_url.rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


def verify_json(auth_token: str, url: str, body: bytes, signature: str | None) -> bool:
    """True when a JSON webhook (Twilio Link Shortening's click events) is Twilio's.

    Twilio signs a JSON body through the URL: it adds `bodySHA256` (the hex SHA-256 of
    the body) to the query and signs that URL with no parameters. Both must hold: the
    signature over the URL, and the digest of the body we read (as Twilio's SDK checks)."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    claimed = query.get("bodySHA256", "")
    digest = hashlib.sha256(body).hexdigest()
    ok = verify(auth_token, url, (), signature)
    return ok & hmac.compare_digest(digest.encode(), claimed.encode("ascii", "replace"))


def sign_json(auth_token: str, url: str, body: bytes) -> tuple[str, str]:
    """The URL to POST `body` to (with its `bodySHA256`) and its X-Twilio-Signature."""
    sep = "&" if urlsplit(url).query else "?"
    signed = f"{url}{sep}{urlencode({'bodySHA256': hashlib.sha256(body).hexdigest()})}"
    return signed, compute(auth_token, signed, ())
