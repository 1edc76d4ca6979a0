"""Helpers shared by the HubSpot emulator tests: one sandbox per module, a clean account
per test, and the real SDK pointed at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.server import Sandbox

FROZEN_AT = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One HubSpot-only sandbox per test module (import with `hs`, list both in __all__)."""
    with Sandbox(vendors=("hubspot",)) as box:
        yield box


@pytest.fixture
def hs(sb: Sandbox) -> HubSpotEmulator:
    """The module's emulator, fresh for this test."""
    return fresh(sb)


def fresh(sb: Sandbox) -> HubSpotEmulator:
    """Forget records, knobs, faults and stats; pin the clock so windows are exact."""
    emulator = sb.emulators["hubspot"]
    assert isinstance(emulator, HubSpotEmulator)
    emulator.reset()
    sb.state.faults.clear()
    sb.state.stats.reset()
    sb.state.clock.set(FROZEN_AT, freeze=True)
    return emulator


def client(sb: Sandbox) -> HubSpot:
    """The SDK pointed at the sandbox, with urllib3's retries off.

    Its default pool would sleep on a 429's Retry-After and retry GETs, hiding the answer
    these tests check."""
    no_retry = Retry(total=0, respect_retry_after_header=False)
    return HubSpot(
        access_token=sb.credentials.hubspot_token, host=sb.urls["hubspot"], retry=no_retry
    )


def body_of(exc: Any) -> dict[str, Any]:
    """The JSON body of an SDK `ApiException`."""
    data = json.loads(exc.body)
    assert isinstance(data, dict)
    return data


def admin(sb: Sandbox, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(method, f"{sb.urls['admin']}/__sandbox{path}", json=body)
    response.raise_for_status()
    return response.json()
