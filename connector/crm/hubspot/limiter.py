"""A client-side limiter that keeps HubSpot calls under the account's 10 s rolling window,
its search endpoints' 5 per second, and a share of the daily budget.

A call holds a slot from the moment it is sent until ten seconds after its *answer*
arrived, which is never earlier than the server admitted it, so the local window is never
emptier than HubSpot's. The `X-HubSpot-RateLimit-*` headers correct the local view (for
instance after a restart, or when another process shares the account). A 429 blocks every
caller until Retry-After when HubSpot sends it, else until the whole window has passed.

The clock and sleep are injectable, so tests drive it on the sandbox's clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from connector.errors import QuotaExhaustedError
from connector.metrics import RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

TierName = Literal["starter", "professional", "capacity_pack"]


@dataclass(frozen=True, slots=True)
class Tier:
    per_window: int
    daily: int
    window_s: float = 10.0
    search_per_s: int = 5


TIERS: Mapping[str, Tier] = {
    "starter": Tier(100, 250_000),  # also Free
    "professional": Tier(190, 650_000),  # also Enterprise
    "capacity_pack": Tier(250, 1_000_000),
}

SAFETY_S = 0.05  # slack for clock granularity between us and HubSpot


def _header(headers: Mapping[str, str], name: str) -> int | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            try:
                return int(float(value))
            except ValueError:
                return None
    return None


class RateLimiter:
    def __init__(
        self,
        tier: Tier | None = None,
        *,
        daily_share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.tier = tier or TIERS["starter"]
        self.per_window = self.tier.per_window
        self.window_s = self.tier.window_s
        self.daily_share = daily_share
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._done: deque[float] = deque()  # answer times of calls still in the window
        self._searches: deque[float] = deque()
        self._in_flight = 0
        self._blocked_until = 0.0
        self.daily_remaining: int | None = None
        self.daily_max = self.tier.daily
        self.waited_s = 0.0
        self.throttled = 0

    # the local view ------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        horizon = now - self.window_s - SAFETY_S
        while self._done and self._done[0] <= horizon:
            self._done.popleft()
        while self._searches and self._searches[0] <= now - 1.0 - SAFETY_S:
            self._searches.popleft()

    def _wait_needed(self, now: float, search: bool) -> float:
        self._roll(now)
        waits = [self._blocked_until - now]
        if len(self._done) + self._in_flight >= self.per_window:
            if self._done:
                waits.append(self._done[0] + self.window_s + SAFETY_S - now)
            else:  # every slot is in flight: wait for an answer
                waits.append(0.01)
        if search and len(self._searches) >= self.tier.search_per_s:
            waits.append(self._searches[0] + 1.0 + SAFETY_S - now)
        return max(waits)

    def acquire(self, *, search: bool = False, daily: bool = True) -> None:
        """Block until a call may go out, then hold a slot for it. `daily=False` lets a
        probe out past the daily budget stop: its answer's headers say whether the day
        has rolled over (no other call goes out to tell)."""
        while True:
            with self._lock:
                if daily:
                    self._check_daily()
                wait = self._wait_needed(self._clock(), search)
                if wait <= 0:
                    self._in_flight += 1
                    if search:
                        self._searches.append(self._clock())
                    return
            self.waited_s += wait
            RATE_LIMIT_WAITS.labels("hubspot").inc()
            RATE_LIMIT_WAIT_SECONDS.labels("hubspot").inc(wait)
            self._sleep(wait)

    def release(self, headers: Mapping[str, str] | None = None) -> None:
        """The call was answered (any status but 429); read HubSpot's view of the window."""
        with self._lock:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            self._done.append(now)
            if headers:
                self._observe(now, headers)

    def throttled_by_server(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> None:
        """A 429: nothing more goes out until Retry-After, else until the window is over.

        A refused call is not counted by HubSpot, so it frees its slot."""
        with self._lock:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            self.throttled += 1
            interval = self.window_s
            if headers:
                ms = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
                if ms:
                    interval = ms / 1000.0
            wait = retry_after if retry_after is not None else interval + SAFETY_S
            self._blocked_until = max(self._blocked_until, now + wait)

    def reset_view(self) -> None:
        """Forget the local history (what a restart does); the headers rebuild it."""
        with self._lock:
            self._done.clear()
            self._searches.clear()
            self._blocked_until = 0.0

    # headers ---------------------------------------------------------------------------

    def _observe(self, now: float, headers: Mapping[str, str]) -> None:
        maximum = _header(headers, "X-HubSpot-RateLimit-Max")
        if maximum:
            self.per_window = min(maximum, self.tier.per_window) if self.tier else maximum
        ms = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if ms:
            self.window_s = ms / 1000.0
        remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None:
            self._roll(now)
            local_free = self.per_window - len(self._done) - self._in_flight
            # HubSpot counts calls we do not know of (another process, a restart). When
            # they leave its window is unknown: assume they were spread over the last
            # window. If they came in a burst, one 429 says so and the window is waited out.
            unknown = max(0, local_free - remaining)
            if unknown:
                spread = [
                    now - self.window_s + self.window_s * (i + 1) / unknown for i in range(unknown)
                ]
                self._done = deque(sorted([*self._done, *spread]))
        daily = _header(headers, "X-HubSpot-RateLimit-Daily")
        if daily:
            self.daily_max = daily
        daily_left = _header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily_left is not None:
            self.daily_remaining = daily_left

    def check_daily(self) -> None:
        """QuotaExhaustedError while the daily budget share is used up (no call made)."""
        with self._lock:
            self._check_daily()

    def _check_daily(self) -> None:
        if self.daily_remaining is None:
            return
        reserve = self.daily_max * (1.0 - self.daily_share)
        if self.daily_remaining <= reserve:
            raise QuotaExhaustedError(
                f"HubSpot daily API budget reached: {self.daily_remaining} of"
                f" {self.daily_max} calls left, and {self.daily_share:.0%} is smsync's share;"
                " writes resume when the day rolls over"
            )
