"""Where the bearer token comes from: a private-app token, or an OAuth refresh token.

An OAuth access token expires; when HubSpot says so (401 EXPIRED_AUTHENTICATION), every
worker that saw it asks for a refresh with the token it used. Only the first one refreshes,
under a lock; the others find a newer token already there and retry with it. HubSpot may
rotate the refresh token on each refresh, so the new pair is persisted before it is used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from connector.errors import AuthError, RateLimitedError, RetriableError
from connector.logs import secrets_from
from connector.ports import TokenPair, TokenVault
from connector.retry import parse_retry_after


class TokenSource(Protocol):
    def token(self) -> str:
        """The access token to send now."""
        ...

    def refresh(self, stale: str) -> str:
        """A fresh token, after `stale` was refused as expired (single-flight)."""
        ...


@dataclass(frozen=True, slots=True)
class PrivateAppToken:
    """A private-app token does not expire; a 401 means it was revoked."""

    value: str

    def token(self) -> str:
        return self.value

    def refresh(self, stale: str) -> str:  # noqa: ARG002 - the TokenSource signature
        raise AuthError(
            "HubSpot refused the private-app token as expired; private-app tokens cannot be"
            " refreshed. Rotate it in HubSpot and update HUBSPOT_ACCESS_TOKEN"
        )


Exchange = Callable[[str], TokenPair]

# the `status` codes of HubSpot's /oauth/v1/token 400s that name the client, not the token
_CLIENT_CODES = frozenset({"BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "BAD_GRANT_TYPE"})


def oauth_exchange(
    token_url: str,
    client_id: str,
    client_secret: str,
    *,
    ca_file: Path | None = None,
    timeout_s: float = 10.0,
) -> Exchange:
    """POST grant_type=refresh_token to HubSpot's /oauth/v1/token.

    With a CA file the session ignores the environment: REQUESTS_CA_BUNDLE would otherwise
    override `verify` and the sandbox's (or a proxy's) CA would not be trusted."""
    session = requests.Session()
    if ca_file is not None:
        session.verify = str(ca_file)
        session.trust_env = False

    def exchange(refresh_token: str) -> TokenPair:
        try:
            r = session.post(
                token_url,
                data={
                    "grant_type": "refresh_token",
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "refresh_token": refresh_token,
                },
                headers={"Accept": "application/json"},
                timeout=timeout_s,
            )
        except requests.RequestException as exc:  # the cause tells start-up "unreachable"
            raise RetriableError(f"HubSpot token refresh failed: {type(exc).__name__}") from exc
        if r.status_code == 429:
            raise RateLimitedError(
                "HubSpot token refresh was rate limited (HTTP 429)",
                retry_after=parse_retry_after(r.headers.get("Retry-After")),
            )
        if r.status_code >= 500:
            raise RetriableError(f"HubSpot token refresh failed: HTTP {r.status_code}")
        if r.status_code != 200:
            raise _refused(r, secrets=(refresh_token, client_secret))
        data = r.json()
        return TokenPair(str(data["access_token"]), str(data.get("refresh_token", refresh_token)))

    return exchange


def _refused(r: requests.Response, secrets: tuple[str, ...]) -> AuthError:
    """An actionable AuthError for a refused refresh; HubSpot's text is shown only with every
    secret of the request masked out of it."""
    try:
        body = r.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("status") or body.get("category") or "")[:40]
    said = str(body.get("message") or "")[:200]
    for secret in secrets:
        if secret:
            said = said.replace(secret, "***")
    why = f"HTTP {r.status_code}" + (f" {code}" if code else "") + (f": {said}" if said else "")
    if code in _CLIENT_CODES:
        return AuthError(
            f"HubSpot refused the OAuth client ({why}); check HUBSPOT_CLIENT_ID and"
            " HUBSPOT_CLIENT_SECRET against the app's Auth settings"
        )
    return AuthError(
        f"HubSpot refused the OAuth refresh token ({why}): it was revoked, the app was"
        " uninstalled, or it was already rotated. Re-authorise the app and set"
        " HUBSPOT_REFRESH_TOKEN to the new refresh token"
    )


class OAuthTokens:
    """Single-flight refresh of an OAuth access token, persisting the rotated pair.

    A pair in the vault wins over `initial` (it is newer). If HubSpot refuses the vault's
    refresh token and `initial` holds a different one, that one is tried once: it is how an
    operator recovers, by re-authorising and setting HUBSPOT_REFRESH_TOKEN anew."""

    def __init__(self, initial: TokenPair, exchange: Exchange, vault: TokenVault | None) -> None:
        stored = vault.load() if vault is not None else None
        self._initial = initial
        self._pair = stored or initial
        for known in (initial, self._pair):
            secrets_from((known.access_token, known.refresh_token))
        self._exchange = exchange
        self._vault = vault
        self._lock = threading.Lock()
        self.refreshes = 0

    def token(self) -> str:
        """The current access token; with none yet (no HUBSPOT_ACCESS_TOKEN), refresh now."""
        access = self._pair.access_token
        return access or self.refresh(access)

    def refresh(self, stale: str) -> str:
        with self._lock:
            if self._pair.access_token != stale:
                return self._pair.access_token  # another worker already refreshed
            used = self._pair.refresh_token
            try:
                pair = self._exchange(used)
            except AuthError:
                fallback = self._initial.refresh_token
                if not fallback or fallback == used:
                    raise
                pair = self._exchange(fallback)
            secrets_from(
                (pair.access_token, pair.refresh_token)
            )  # masked in any log line from here on
            if self._vault is not None:
                self._vault.save(pair)  # before use: the old refresh token is now dead
            self._pair = pair
            self.refreshes += 1
            return pair.access_token
