"""HubSpot's rate limits as the SDK meets them: the 10 s rolling window, the daily quota,
search's 5 per second, and the fault storm's 429, all on the sandbox clock."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

from connector.sandbox.faults import FaultSpec, Storm
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.hubspot_fixtures import admin, body_of, client, hs, sb

__all__ = ["hs", "sb"]  # pytest fixtures


@pytest.fixture
def api(sb: Sandbox, hs: HubSpotEmulator) -> HubSpot:
    return client(sb)


def _list(api: HubSpot) -> None:
    api.crm.contacts.basic_api.get_page(limit=1)


def test_101st_call_in_ten_seconds_is_429_until_the_window_rolls(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    for _ in range(99):
        _list(api)
    last = api.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    headers = last[2]
    assert headers["X-HubSpot-RateLimit-Max"] == "100"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249900"

    with pytest.raises(ApiException) as caught:
        _list(api)
    assert caught.value.status == 429
    body = body_of(caught.value)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"]
    assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert caught.value.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert "Retry-After" not in caught.value.headers

    sb.state.clock.advance(9.9)
    with pytest.raises(ApiException):
        _list(api)
    sb.state.clock.advance(0.2)
    freed = api.crm.contacts.basic_api.get_page_with_http_info(limit=1)[2]
    assert freed["X-HubSpot-RateLimit-Remaining"] == "99"
    assert sb.state.stats.snapshot()["hubspot"]["throttled_429"] == 2


def test_tier_is_configurable_and_the_knob_can_add_retry_after(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    config = admin(sb, "POST", "/hubspot/limits", {"ten_secondly": 190, "retry_after_s": 1})
    assert config["ten_secondly"] == 190
    for _ in range(190):
        _list(api)
    with pytest.raises(ApiException) as caught:
        _list(api)
    assert caught.value.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert caught.value.headers["Retry-After"] == "1"


def test_daily_limit_answers_daily(sb: Sandbox, hs: HubSpotEmulator, api: HubSpot) -> None:
    hs.configure_limits(daily=5)
    for i in range(5):
        _list(api)
        sb.state.clock.advance(11 * (i + 1))  # never near the rolling limit
    with pytest.raises(ApiException) as caught:
        _list(api)
    assert caught.value.status == 429
    assert body_of(caught.value)["policyName"] == "DAILY"
    assert body_of(caught.value)["message"] == "You have reached your daily limit."
    assert caught.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    sb.state.clock.advance(24 * 3600)
    _list(api)


def test_search_is_limited_to_five_per_second(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot
) -> None:
    search = api.crm.contacts.search_api
    for _ in range(5):
        search.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException) as caught:
        search.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1))
    assert caught.value.status == 429
    assert body_of(caught.value)["policyName"] == "SECONDLY"
    _list(api)  # other endpoints are not held back by search's own limit
    sb.state.clock.advance(1)
    search.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1))


@pytest.mark.parametrize("retry_after", [None, 2.0])
def test_throttle_storm_uses_the_rolling_429(
    sb: Sandbox, hs: HubSpotEmulator, api: HubSpot, retry_after: float | None
) -> None:
    sb.state.faults.set("hubspot", FaultSpec(throttle=Storm(count=2, retry_after=retry_after)))
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            _list(api)
        assert caught.value.status == 429
        assert body_of(caught.value)["policyName"] == "TEN_SECONDLY_ROLLING"
        assert caught.value.headers.get("Retry-After") == (None if retry_after is None else "2")
        assert "X-HubSpot-RateLimit-Max" in caught.value.headers
    _list(api)
    assert sb.state.stats.calls("hubspot") == 3
