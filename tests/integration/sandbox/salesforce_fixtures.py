"""Shared fixtures for the Salesforce emulator tests: one sandbox per module, real
simple-salesforce over real HTTPS, and the OAuth password flow done with requests."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any, cast

import pytest
import requests
from simple_salesforce.api import Salesforce, SFType

from connector.sandbox.server import Sandbox

API_VERSION = "62.0"
_OPEN: list[requests.Session] = []  # closed before the sandbox stops, so it stops at once


def https_session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.verify = str(sb.ca_file)
    # with REQUESTS_CA_BUNDLE set, requests would prefer it over session.verify (psf/requests
    # #3829); the sandbox CA must win, and loopback needs no proxy settings from env
    session.trust_env = False
    _OPEN.append(session)
    return session


def password_token(sb: Sandbox, session: requests.Session, **override: str) -> requests.Response:
    c = sb.credentials
    form = {
        "grant_type": "password",
        "client_id": c.sf_client_id,
        "client_secret": c.sf_client_secret,
        "username": c.sf_username,
        "password": c.sf_password,
        **override,
    }
    return session.post(f"{sb.urls['salesforce']}/services/oauth2/token", data=form, timeout=10)


def connect(sb: Sandbox) -> Salesforce:
    """A simple-salesforce client on a fresh access token, exactly as the connector builds it."""
    session = https_session(sb)
    token = password_token(sb, session)
    token.raise_for_status()
    body: dict[str, Any] = token.json()
    return Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=session,
        version=API_VERSION,
    )


def obj(sf: Salesforce, name: str) -> SFType:
    """`sf.Lead`, typed: simple-salesforce's `__getattr__` may also return bulk handlers."""
    return cast("SFType", getattr(sf, name))


def rest(sf: Salesforce, path: str, **kwargs: Any) -> Any:
    """`sf.restful`, whose JSON answer is typed Optional[Any] upstream."""
    return sf.restful(path, **kwargs)


def content(info: pytest.ExceptionInfo[Any]) -> Any:
    """The decoded error body simple-salesforce put on the exception (typed bytes upstream)."""
    return info.value.content


def admin(sb: Sandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"{sb.urls['admin']}/__sandbox/{path}"
    response = requests.post(url, json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb
        while _OPEN:
            _OPEN.pop().close()
        # responses kept alive by caught exceptions' tracebacks still pin connections
        gc.collect()


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The module's sandbox with data, stats, faults and clock reset before each test."""
    admin(sandbox, "reset")
    return sandbox


@pytest.fixture
def sf(sb: Sandbox) -> Salesforce:
    return connect(sb)
