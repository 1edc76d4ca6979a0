"""OAuth 2.0 for the emulated org: password, JWT bearer, client credentials and refresh
token grants, sessions that expire by the sandbox clock, and revocation.

Failures answer 400 with Salesforce's `{"error", "error_description"}` body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from connector.sandbox.clock import SandboxClock
from connector.sandbox.core import Credentials

ORG_ID = "00D8c0000000001EAA"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(slots=True)
class _Session:
    expires_at: datetime


class Auth:
    """Issues and checks bearer tokens; the clock decides when a session has expired."""

    def __init__(
        self, clock: SandboxClock, credentials: Credentials, *, base_url: str, user_id: str
    ) -> None:
        self.clock = clock
        self.creds = credentials
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.lifetime = timedelta(hours=2)
        self.revoked = False
        self._sessions: dict[str, _Session] = {}
        self._refresh: set[str] = set()

    # admin -------------------------------------------------------------------------------
    def revoke(self, revoked: bool = True) -> None:
        """Revoked: every token dies and every later login fails with invalid_grant."""
        self.revoked = revoked
        if revoked:
            self._sessions.clear()
            self._refresh.clear()

    def expire_all(self) -> None:
        self._sessions.clear()

    def reset(self, user_id: str) -> None:
        self.user_id = user_id
        self.revoked = False
        self.lifetime = timedelta(hours=2)
        self._sessions.clear()
        self._refresh.clear()

    # sessions ----------------------------------------------------------------------------
    def valid(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in {"bearer", "oauth"}:
            return False
        session = self._sessions.get(token.strip())
        if session is None:
            return False
        if self.clock.now() >= session.expires_at:
            del self._sessions[token.strip()]
            return False
        return True

    def _issue(self, *, refresh: bool) -> dict[str, Any]:
        token = f"{ORG_ID[:15]}!AQ" + secrets.token_urlsafe(60)
        now = self.clock.now()
        self._sessions[token] = _Session(now + self.lifetime)
        issued_at = str(int(now.timestamp() * 1000))
        identity = f"{self.base_url}/id/{ORG_ID}/{self.user_id}"
        signature = base64.b64encode(
            hmac.new(
                self.creds.sf_client_secret.encode(),
                (identity + issued_at).encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api refresh_token" if refresh else "api",
        }
        if refresh:
            refresh_token = "5Aep861" + secrets.token_urlsafe(48)
            self._refresh.add(refresh_token)
            body["refresh_token"] = refresh_token
        return body

    # grants ------------------------------------------------------------------------------
    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """The body of a successful `POST /services/oauth2/token`; raises OAuthError."""
        grant = form.get("grant_type", "")
        if grant == "password":
            self._client(form, secret_required=True)
            if (
                form.get("username") != self.creds.sf_username
                or not _same(form.get("password", ""), self.creds.sf_password)
                or self.revoked
            ):
                raise OAuthError("invalid_grant", "authentication failure")
            return self._issue(refresh=True)
        if grant == JWT_BEARER:
            self._jwt(form.get("assertion", ""))
            return self._issue(refresh=False)
        if grant == "client_credentials":
            self._client(form, secret_required=True)
            if self.revoked:
                raise OAuthError("invalid_grant", "authentication failure")
            return self._issue(refresh=False)
        if grant == "refresh_token":
            self._client(form, secret_required=False)
            if self.revoked or form.get("refresh_token") not in self._refresh:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            body = self._issue(refresh=False)
            body["scope"] = "api refresh_token"
            return body
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client(self, form: dict[str, str], *, secret_required: bool) -> None:
        if form.get("client_id") != self.creds.sf_client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret")
        if (secret_required or secret is not None) and not _same(
            secret or "", self.creds.sf_client_secret
        ):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _jwt(self, assertion: str) -> None:
        try:
            claims = jwt.decode(
                assertion,
                self.creds.sf_jwt_public_key_pem,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "require": ["exp"]},
            )
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        if claims.get("iss") != self.creds.sf_client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        audiences = claims.get("aud")
        audience_list = audiences if isinstance(audiences, list) else [audiences]
        allowed = {self.base_url, *STANDARD_AUDIENCES}
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audience_list):
            raise OAuthError("invalid_grant", "audience is invalid")
        try:
            expires = float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        if expires <= self.clock.now().timestamp():
            raise OAuthError("invalid_grant", "expired authorization code")
        if claims.get("sub") != self.creds.sf_username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        if self.revoked:
            raise OAuthError("invalid_grant", "authentication failure")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
