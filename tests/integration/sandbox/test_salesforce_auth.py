"""OAuth grants, revocation, session expiry and the daily limit, through real HTTPS."""

from __future__ import annotations

import time

import jwt
import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

from connector.sandbox.server import Sandbox
from tests.integration.sandbox.salesforce_fixtures import (
    API_VERSION,
    admin,
    connect,
    content,
    https_session,
    password_token,
    sandbox,
    sb,
    sf,
)

__all__ = ["sandbox", "sb", "sf"]


def _token_url(sb: Sandbox) -> str:
    return f"{sb.urls['salesforce']}/services/oauth2/token"


def _client(sb: Sandbox, token: str) -> Salesforce:
    return Salesforce(
        instance_url=sb.urls["salesforce"],
        session_id=token,
        session=https_session(sb),
        version=API_VERSION,
    )


def _assertion(sb: Sandbox, **claims: object) -> str:
    c = sb.credentials
    body = {
        "iss": c.sf_client_id,
        "sub": c.sf_username,
        "aud": "https://login.salesforce.com",
        "exp": int(sb.state.clock.now().timestamp()) + 180,
        **claims,
    }
    return jwt.encode(body, c.sf_jwt_private_key_pem, algorithm="RS256")


def test_password_flow_answers_salesforce_token_body(sb: Sandbox) -> None:
    body = password_token(sb, https_session(sb)).json()
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at"}
    assert body["instance_url"] == sb.urls["salesforce"]
    assert body["token_type"] == "Bearer"
    assert body["signature"]
    assert body["refresh_token"]


def test_wrong_password_and_client_are_refused(sb: Sandbox) -> None:
    session = https_session(sb)
    wrong = password_token(sb, session, password="nope")
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    client = password_token(sb, session, client_id="3MVGnope")
    assert client.json()["error"] == "invalid_client_id"
    grant = session.post(_token_url(sb), data={"grant_type": "authorization_code"}, timeout=10)
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"


def test_jwt_bearer_flow(sb: Sandbox) -> None:
    session = https_session(sb)
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = session.post(_token_url(sb), data={"grant_type": grant, "assertion": _assertion(sb)})
    assert ok.status_code == 200, ok.text
    assert "refresh_token" not in ok.json()
    assert (
        _client(sb, ok.json()["access_token"]).query("SELECT COUNT() FROM User")["totalSize"] == 1
    )
    expired = _assertion(sb, exp=int(sb.state.clock.now().timestamp()) - 5)
    late = session.post(_token_url(sb), data={"grant_type": grant, "assertion": expired})
    assert late.json()["error"] == "invalid_grant"
    wrong_aud = _assertion(sb, aud="https://evil.example.com")
    assert (
        session.post(_token_url(sb), data={"grant_type": grant, "assertion": wrong_aud}).json()[
            "error"
        ]
        == "invalid_grant"
    )
    forged = jwt.encode({"iss": "x", "sub": "y", "aud": "z", "exp": 1}, "k" * 32, "HS256")
    assert (
        session.post(_token_url(sb), data={"grant_type": grant, "assertion": forged}).json()[
            "error"
        ]
        == "invalid_grant"
    )
    # the clock decides expiry: move it past the assertion's exp
    admin(sb, "clock", {"advance_s": 600})
    stale = session.post(
        _token_url(sb),
        data={"grant_type": grant, "assertion": _assertion(sb, exp=int(time.time()) + 60)},
    )
    assert stale.json()["error"] == "invalid_grant"


def test_client_credentials_and_refresh_token(sb: Sandbox) -> None:
    session = https_session(sb)
    c = sb.credentials
    cc = session.post(
        _token_url(sb),
        data={
            "grant_type": "client_credentials",
            "client_id": c.sf_client_id,
            "client_secret": c.sf_client_secret,
        },
    )
    assert cc.status_code == 200
    bad_secret = session.post(
        _token_url(sb),
        data={
            "grant_type": "client_credentials",
            "client_id": c.sf_client_id,
            "client_secret": "x",
        },
    )
    assert bad_secret.json()["error"] == "invalid_client"
    refresh = password_token(sb, session).json()["refresh_token"]
    renewed = session.post(
        _token_url(sb),
        data={"grant_type": "refresh_token", "client_id": c.sf_client_id, "refresh_token": refresh},
    )
    assert renewed.status_code == 200
    _client(sb, renewed.json()["access_token"]).query("SELECT Id FROM User")
    unknown = session.post(
        _token_url(sb),
        data={"grant_type": "refresh_token", "client_id": c.sf_client_id, "refresh_token": "5Aep"},
    )
    assert unknown.json()["error"] == "invalid_grant"


def test_revoked_credentials_kill_tokens_and_logins(sb: Sandbox, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User")
    refresh = password_token(sb, https_session(sb)).json()["refresh_token"]
    admin(sb, "salesforce/revoke")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")
    session = https_session(sb)
    assert password_token(sb, session).json()["error"] == "invalid_grant"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    jwt_login = session.post(
        _token_url(sb), data={"grant_type": grant, "assertion": _assertion(sb)}
    )
    assert jwt_login.json()["error"] == "invalid_grant"
    c = sb.credentials
    again = session.post(
        _token_url(sb),
        data={"grant_type": "refresh_token", "client_id": c.sf_client_id, "refresh_token": refresh},
    )
    assert again.json()["error"] == "invalid_grant"
    admin(sb, "salesforce/revoke", {"revoked": False})
    assert password_token(sb, session).status_code == 200


def test_session_expiry_fault_answers_invalid_session_id(sb: Sandbox, sf: Salesforce) -> None:
    admin(sb, "faults/salesforce", {"session_expire_after": 1})
    sf.query("SELECT Id FROM User")
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM User")
    assert caught.value.status == 401
    assert content(caught) == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    # the fault fired once: a fresh login works again
    assert connect(sb).query("SELECT COUNT() FROM User")["totalSize"] == 1


def test_token_lifetime_follows_the_sandbox_clock(sb: Sandbox, sf: Salesforce) -> None:
    admin(sb, "salesforce/session", {"lifetime_s": 300})
    short = connect(sb)
    admin(sb, "clock", {"advance_s": 301})
    with pytest.raises(SalesforceExpiredSession):
        short.query("SELECT Id FROM User")
    # the default lifetime is two hours; `sf` was issued before the change
    sf.query("SELECT Id FROM User")
    admin(sb, "clock", {"advance_s": 7200})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")


def test_daily_limit_header_and_exhaustion(sb: Sandbox, sf: Salesforce) -> None:
    admin(sb, "salesforce/limits", {"daily_max": 5, "used": 2})
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == 3
    assert sf.api_usage["api-usage"].total == 5
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 5, "Remaining": 1}
    sf.query("SELECT Id FROM User")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User")
    assert caught.value.status == 403
    assert content(caught) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    # the window rolls: a day later the allocation is back
    admin(sb, "clock", {"advance_s": 24 * 3600 + 60})
    later = connect(sb)  # the old session expired meanwhile
    later.query("SELECT Id FROM User")
    assert later.api_usage["api-usage"].used == 1


def test_throttle_storm_is_the_concurrent_request_limit(sb: Sandbox, sf: Salesforce) -> None:
    admin(sb, "faults/salesforce", {"throttle": {"count": 1}})
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User")
    assert content(caught)[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "ConcurrentPerOrgLongTxn" in content(caught)[0]["message"]
    sf.query("SELECT Id FROM User")
