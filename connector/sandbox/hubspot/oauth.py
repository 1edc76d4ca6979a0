"""HubSpot's OAuth token endpoint (`POST /oauth/v1/token`, refresh_token grant) and which
bearer tokens the API accepts.

Each exchange rotates both tokens: the previous access token then answers 401
EXPIRED_AUTHENTICATION and the previous refresh token 400 BAD_REFRESH_TOKEN, so a connector
that does not persist the rotated refresh token cannot survive a restart. (Real HubSpot
usually hands back the same refresh token; rotating is the stricter case.) The error
bodies follow what HubSpot is known to send for its OAuth 400s (`status` + `message`, not
the CRM API's `category`); the client-side codes are best knowledge, not documented."""

from __future__ import annotations

import secrets
import threading
import uuid
from typing import Any

from connector.sandbox.core import Credentials
from connector.sandbox.hubspot.errors import correlation_id

ACCESS_TTL_S = 1800


class OAuthError(Exception):
    """A refused exchange: HTTP 400 and HubSpot's OAuth error body."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {
            "status": status,
            "message": message,
            "correlationId": correlation_id(),
        }


class OAuthServer:
    """One installed OAuth app: its client, the live refresh token and access token."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.refresh_token = self.credentials.hubspot_oauth_refresh_token
            self.access_token: str | None = None
            self._expired: set[str] = set()
            self.exchanges = 0

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        """The 200 body for a good refresh_token grant; OAuthError otherwise."""
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "authorization_code"):
            raise OAuthError("BAD_GRANT_TYPE", "missing or unknown grant type")
        if form.get("client_id") != self.credentials.hubspot_oauth_client_id:
            raise OAuthError("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != self.credentials.hubspot_oauth_client_secret:
            raise OAuthError("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if grant == "authorization_code":  # no consent screen here, so no code is ever valid
            raise OAuthError("BAD_AUTH_CODE", "missing or unknown auth code")
        with self._lock:
            if form.get("refresh_token") != self.refresh_token:
                raise OAuthError("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            if self.access_token is not None:
                self._expired.add(self.access_token)
            self.refresh_token = "na1-" + str(uuid.uuid4())
            self.access_token = "C" + secrets.token_urlsafe(48)
            self.exchanges += 1
            return {
                "token_type": "bearer",
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "expires_in": ACCESS_TTL_S,
            }

    def expire_access(self) -> bool:
        """Expire the current access token (as if its 30 minutes had passed)."""
        with self._lock:
            if self.access_token is None:
                return False
            self._expired.add(self.access_token)
            self.access_token = None
            return True

    def check(self, bearer: str) -> str:
        """ "ok", "expired" or "unknown" for an OAuth access token."""
        with self._lock:
            if self.access_token is not None and secrets.compare_digest(bearer, self.access_token):
                return "ok"
            return "expired" if bearer in self._expired else "unknown"
