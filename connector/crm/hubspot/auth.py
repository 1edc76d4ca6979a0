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
from typing import Protocol

import requests

from connector.errors import AuthError, RetriableError
from connector.ports import TokenPair, TokenVault


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


def oauth_exchange(
    token_url: str, client_id: str, client_secret: str, *, timeout_s: float = 10.0
) -> Exchange:
    """POST grant_type=refresh_token to HubSpot's /oauth/v1/token."""

    def exchange(refresh_token: str) -> TokenPair:
        try:
            r = requests.post(
                token_url,
                data={
                    "grant_type": "refresh_token",
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "refresh_token": refresh_token,
                },
                timeout=timeout_s,
            )
        except requests.RequestException as exc:
            raise RetriableError(f"HubSpot token refresh failed: {type(exc).__name__}") from None
        if r.status_code >= 500:
            raise RetriableError(f"HubSpot token refresh failed: HTTP {r.status_code}")
        if r.status_code != 200:
            raise AuthError(
                f"HubSpot refused the OAuth refresh token (HTTP {r.status_code}); re-authorise"
                " the app and store the new refresh token"
            )
        data = r.json()
        return TokenPair(str(data["access_token"]), str(data.get("refresh_token", refresh_token)))

    return exchange


class OAuthTokens:
    """Single-flight refresh of an OAuth access token, persisting the rotated pair."""

    def __init__(self, initial: TokenPair, exchange: Exchange, vault: TokenVault | None) -> None:
        stored = vault.load() if vault is not None else None
        self._pair = stored or initial
        self._exchange = exchange
        self._vault = vault
        self._lock = threading.Lock()
        self.refreshes = 0

    def token(self) -> str:
        return self._pair.access_token

    def refresh(self, stale: str) -> str:
        with self._lock:
            if self._pair.access_token != stale:
                return self._pair.access_token  # another worker already refreshed
            pair = self._exchange(self._pair.refresh_token)
            if self._vault is not None:
                self._vault.save(pair)
            self._pair = pair
            self.refreshes += 1
            return pair.access_token
