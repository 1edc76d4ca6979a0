"""HubSpot's per-account API limits on the sandbox clock: a 10 s rolling window, a daily
quota, and the search endpoints' own 5 requests per second.

Only admitted calls count against a window; a refused call costs nothing, so moving the
clock past the window is all it takes to be admitted again."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from connector.sandbox.hubspot.errors import HubSpotError, correlation_id

WINDOW_S = 10.0
SEARCH_WINDOW_S = 1.0

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"
_MESSAGES = {
    TEN_SECONDLY: "You have reached your ten_secondly_rolling limit.",
    DAILY: "You have reached your daily limit.",
    SECONDLY: "You have reached your secondly limit.",
}


class LimitConfig(BaseModel):
    """The account's tier. 100/10 s is Free and Starter; 190 Professional and Enterprise;
    250 with the capacity pack. Daily: 250k, 650k or 1M."""

    model_config = ConfigDict(extra="forbid")

    ten_secondly: int = Field(default=100, ge=1)
    daily: int = Field(default=250_000, ge=1)
    search_per_second: int = Field(default=5, ge=1)
    retry_after_s: float | None = Field(
        default=None, ge=0, description="send Retry-After on rolling 429s (real HubSpot: no)"
    )


def rate_limit_error(
    policy: str, headers: dict[str, str], retry_after: float | None = None
) -> HubSpotError:
    """The 429 HubSpot answers when `policy` is exhausted (no `category`, an `errorType`)."""
    err = HubSpotError(429, _MESSAGES[policy], "RATE_LIMIT", headers=dict(headers))
    err.body = {
        "status": "error",
        "message": _MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
    }
    if retry_after is not None:
        err.headers["Retry-After"] = f"{retry_after:g}"
    return err


@dataclass(slots=True)
class _Usage:
    window: deque[float]
    searches: deque[float]
    day: date | None = None
    used_today: int = 0


class RateLimiter:
    def __init__(self, config: LimitConfig | None = None) -> None:
        self.config = config or LimitConfig()
        self._usage = _Usage(deque(), deque())

    def reset(self) -> None:
        self._usage = _Usage(deque(), deque())

    def _roll(self, now: datetime) -> float:
        ts = now.timestamp()
        usage = self._usage
        while usage.window and usage.window[0] <= ts - WINDOW_S:
            usage.window.popleft()
        while usage.searches and usage.searches[0] <= ts - SEARCH_WINDOW_S:
            usage.searches.popleft()
        if usage.day != now.date():
            usage.day = now.date()
            usage.used_today = 0
        return ts

    def admit(self, now: datetime, *, search: bool = False) -> None:
        """Count one call, or raise HubSpot's 429 for the first exhausted policy."""
        ts = self._roll(now)
        usage, config = self._usage, self.config
        if usage.used_today >= config.daily:
            raise rate_limit_error(DAILY, self.headers(now))
        if len(usage.window) >= config.ten_secondly:
            raise rate_limit_error(TEN_SECONDLY, self.headers(now), config.retry_after_s)
        if search and len(usage.searches) >= config.search_per_second:
            raise rate_limit_error(SECONDLY, self.headers(now), config.retry_after_s)
        usage.window.append(ts)
        usage.used_today += 1
        if search:
            usage.searches.append(ts)

    def headers(self, now: datetime) -> dict[str, str]:
        self._roll(now)
        usage, config = self._usage, self.config
        return {
            "X-HubSpot-RateLimit-Daily": str(config.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, config.daily - usage.used_today)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_S * 1000)),
            "X-HubSpot-RateLimit-Max": str(config.ten_secondly),
            "X-HubSpot-RateLimit-Remaining": str(max(0, config.ten_secondly - len(usage.window))),
        }
