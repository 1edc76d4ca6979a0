"""The one retry factory: retries only what adapters classified as retriable."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connector.errors import FatalError, RateLimitedError, RetriableError
from connector.retry import RetryPolicy, parse_retry_after, retrying

FAST = RetryPolicy(attempts=4, max_total_s=60, base_s=0.01, max_wait_s=0.05)


def test_retries_retriable_then_succeeds() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("503")
        return "ok"

    assert retrying("t", FAST, sleep=slept.append)(flaky) == "ok"
    assert len(calls) == 3
    assert len(slept) == 2
    assert all(0 <= s <= 0.05 for s in slept)


def test_attempts_are_capped_and_the_last_error_reraised() -> None:
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise RetriableError(f"boom {len(calls)}")

    with pytest.raises(RetriableError, match="boom 4"):
        retrying("t", FAST, sleep=lambda _: None)(always)
    assert len(calls) == 4


def test_fatal_errors_are_never_retried() -> None:
    calls: list[int] = []

    def fatal() -> None:
        calls.append(1)
        raise FatalError("revoked")

    with pytest.raises(FatalError):
        retrying("t", FAST, sleep=lambda _: None)(fatal)
    assert calls == [1]


def test_retry_after_is_honoured_over_backoff() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def throttled() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RateLimitedError("429", retry_after=7)
        return "ok"

    assert retrying("t", FAST, sleep=slept.append)(throttled) == "ok"
    assert slept == [7]


def test_retry_on_narrows_what_is_retried() -> None:
    calls: list[int] = []

    def ambiguous() -> None:
        calls.append(1)
        raise RetriableError("reset after send")

    with pytest.raises(RetriableError):
        retrying("t", FAST, retry_on=lambda _: False, sleep=lambda _: None)(ambiguous)
    assert calls == [1]


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    parsed = parse_retry_after(later)
    assert parsed is not None
    assert 25 <= parsed <= 31


def test_rate_limit_waits_are_counted_per_vendor() -> None:
    from connector.metrics import RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

    waits = RATE_LIMIT_WAITS.labels("acme")
    seconds = RATE_LIMIT_WAIT_SECONDS.labels("acme")
    before, before_s = waits._value.get(), seconds._value.get()
    calls: list[int] = []

    def throttled() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RateLimitedError("429", retry_after=2)
        return "ok"

    assert retrying("acme.write", FAST, sleep=lambda _: None)(throttled) == "ok"
    assert waits._value.get() - before == 2
    assert seconds._value.get() - before_s == 4


def test_no_wait_is_started_that_would_end_past_the_total_budget() -> None:
    """Issue 22: `max_total_s` bounds the operation; a longer Retry-After goes up to the
    caller (writeback waits it out in its queue) instead of being slept here."""
    budget = RetryPolicy(attempts=10, max_total_s=0.5, base_s=0.01, max_wait_s=0.05)
    calls: list[float] = []
    started = time.monotonic()

    def throttled() -> None:
        calls.append(time.monotonic() - started)
        raise RateLimitedError("429", retry_after=0.3)

    with pytest.raises(RateLimitedError) as raised:
        retrying("t", budget)(throttled)
    took = time.monotonic() - started
    assert len(calls) == 2  # the third would start at 0.6 s, past the budget
    assert took < 0.5
    assert raised.value.retry_after == 0.3

    def patient() -> None:
        raise RateLimitedError("429", retry_after=30)  # longer than the whole budget

    slept: list[float] = []
    with pytest.raises(RateLimitedError):
        retrying("t", budget, sleep=slept.append)(patient)
    assert slept == []


def test_a_throttled_sms_send_goes_again_after_retry_after_within_an_hour() -> None:
    from connector.engine.send_outcomes import retry_delay

    assert retry_delay(None) == timedelta(seconds=30)
    assert retry_delay(12) == timedelta(seconds=12)
    assert retry_delay(86_400) == timedelta(hours=1)  # a bogus Retry-After parks nothing
