"""The one retry factory. Every adapter retries through it, so backoff, Retry-After and
attempt caps behave the same everywhere and are tested once.

Adapters classify vendor failures into `RetriableError` (optionally with `retry_after`)
first; the factory then retries only those, honours the server's wait when given, else
backs off exponentially with full jitter (at most `max_wait_s` per wait), caps attempts and
total time, and re-raises the last error rather than wrapping it.

`max_total_s` is a real bound: a wait that would end past it is not started, so one
operation takes at most `max_total_s` plus one call's own timeout. A Retry-After longer
than what is left is therefore not slept here: the error (with its `retry_after`) goes up
to the caller, whose queue waits it out without holding a worker (writeback's backoff)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity import sleep as default_sleep

from connector.errors import RateLimitedError, RetriableError
from connector.metrics import RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    max_total_s: float = 120.0
    base_s: float = 0.5
    max_wait_s: float = 30.0


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    jitter = wait_random_exponential(multiplier=policy.base_s, max=policy.max_wait_s)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetriableError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), policy.max_total_s)
        return float(jitter(state))

    return wait


def _log_retry(operation: str) -> Callable[[RetryCallState], None]:
    vendor = re.split(r"[. ]", operation, maxsplit=1)[0]

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimitedError):
            RATE_LIMIT_WAITS.labels(vendor).inc()
            RATE_LIMIT_WAIT_SECONDS.labels(vendor).inc(state.upcoming_sleep)
        log.warning(
            "retrying",
            operation=operation,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            error=type(exc).__name__ if exc else None,
            detail=str(exc) if exc else None,
        )

    return before_sleep


def retrying(
    operation: str,
    policy: RetryPolicy | None = None,
    *,
    retry_on: Callable[[BaseException], bool] | None = None,
    sleep: Callable[[float], Any] = default_sleep,
) -> Retrying:
    """A tenacity `Retrying` for one kind of call. Use as `for attempt in retrying(...)`
    or `retrying(...)(fn, *args)`.

    `retry_on` narrows which RetriableErrors are retried (e.g. never re-POST a send whose
    outcome is ambiguous); non-retriable errors are never retried."""
    p = policy or RetryPolicy()

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, RetriableError):
            return False
        return retry_on(exc) if retry_on is not None else True

    return Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(p.attempts) | stop_before_delay(p.max_total_s),
        wait=_wait(p),
        before_sleep=_log_retry(operation),
        sleep=sleep,
        reraise=True,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
