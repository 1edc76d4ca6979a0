"""The HubSpot client-side limiter and error table, on a fake clock."""

from __future__ import annotations

import pytest

from connector.crm.hubspot.errors import classify, record_failure
from connector.crm.hubspot.limiter import RateLimiter, Tier
from connector.errors import QuotaExhaustedError
from connector.vendor_errors import Action


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _limiter(t: FakeTime, per_window: int = 3, daily_share: float = 1.0) -> RateLimiter:
    return RateLimiter(
        Tier(per_window, 1_000), daily_share=daily_share, clock=t.clock, sleep=t.sleep
    )


def test_a_full_window_waits_until_the_oldest_answer_ages_out() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    for _ in range(3):
        limiter.acquire()
        t.now += 0.5
        limiter.release()
    limiter.acquire()  # the fourth call waits for the first answer (at 1000.5) + 10 s
    assert t.now == pytest.approx(1_010.55)


def test_429_with_retry_after_blocks_that_long_without_it_a_window() -> None:
    t = FakeTime()
    limiter = _limiter(t, per_window=100)
    limiter.acquire()
    limiter.throttled_by_server(2.0)
    limiter.acquire()
    assert t.now == pytest.approx(1_002.0)
    limiter.throttled_by_server(None, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    before = t.now
    limiter.acquire()
    assert t.now - before == pytest.approx(10.05)


def test_headers_reveal_calls_the_local_view_forgot() -> None:
    t = FakeTime()
    limiter = _limiter(t, per_window=10)
    limiter.acquire()
    limiter.release({"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "0"})
    before = t.now
    limiter.acquire()
    assert t.now > before  # HubSpot says the window is full: wait


def test_daily_share_stops_before_the_budget_is_gone() -> None:
    t = FakeTime()
    limiter = _limiter(t, per_window=100, daily_share=0.8)
    limiter.acquire()
    limiter.release(
        {"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "150"}
    )
    with pytest.raises(QuotaExhaustedError):
        limiter.acquire()


@pytest.mark.parametrize(
    ("status", "body", "action"),
    [
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, Action.RATE_LIMITED),
        (429, {"policyName": "DAILY"}, Action.QUOTA),
        (401, {"category": "EXPIRED_AUTHENTICATION"}, Action.REFRESH_AUTH),
        (401, {"category": "INVALID_AUTHENTICATION"}, Action.AUTH),
        (403, {"category": "MISSING_SCOPES"}, Action.CONFIG),
        (409, {"category": "CONFLICT"}, Action.SPLIT),
        (400, {"category": "VALIDATION_ERROR"}, Action.SPLIT),
        (503, {}, Action.RETRY),
        (0, {}, Action.RETRY),
        (404, {"category": "OBJECT_NOT_FOUND"}, Action.RECORD),
    ],
)
def test_the_error_table(status: int, body: dict[str, str], action: Action) -> None:
    assert classify(status, body, {"Retry-After": "3"}).action is action


def test_record_categories() -> None:
    assert record_failure("RATE_LIMIT", None).retriable
    assert record_failure("OBJECT_NOT_FOUND", "gone").orphaned
    invalid = record_failure("INVALID_FIELD", "bad")
    assert not invalid.retriable
    assert invalid.message == "bad"
