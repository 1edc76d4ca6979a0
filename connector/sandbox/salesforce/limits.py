"""The org's daily API allocation: a rolling 24 hours by the sandbox clock.

Calls are counted in one-minute buckets so the window slides cheaply at any call rate."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
DEFAULT_DAILY_MAX = 100_000


class DailyLimit:
    def __init__(self, daily_max: int = DEFAULT_DAILY_MAX) -> None:
        self.daily_max = daily_max
        self._buckets: deque[tuple[datetime, int]] = deque()  # (minute start, count)
        self._used = 0

    def _slide(self, now: datetime) -> None:
        cutoff = now - WINDOW
        while self._buckets and self._buckets[0][0] <= cutoff:
            _, count = self._buckets.popleft()
            self._used -= count

    def used(self, now: datetime) -> int:
        self._slide(now)
        return self._used

    def exhausted(self, now: datetime) -> bool:
        return self.used(now) >= self.daily_max

    def count(self, now: datetime, n: int = 1) -> None:
        self._slide(now)
        minute = now.replace(second=0, microsecond=0)
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1] = (minute, self._buckets[-1][1] + n)
        else:
            self._buckets.append((minute, n))
        self._used += n

    def set(self, now: datetime, *, daily_max: int | None = None, used: int | None = None) -> None:
        """Admin: change the allocation, or pretend `used` calls were made just now."""
        if daily_max is not None:
            self.daily_max = daily_max
        if used is not None:
            self._buckets.clear()
            self._used = 0
            if used:
                self.count(now, used)

    def header(self, now: datetime) -> str:
        return f"api-usage={self.used(now)}/{self.daily_max}"
