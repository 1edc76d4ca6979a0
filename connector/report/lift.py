"""Holdout lift: the outcome rate of a play's exposed contacts against its holdout.

The interval is Newcombe's hybrid score interval for a difference of two independent
proportions (Newcombe 1998, method 10), built from the two Wilson score intervals. It keeps
close to its nominal coverage at small counts and at rates near 0 or 1, where the textbook
Wald interval does not."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
# Below these the interval says nothing useful, so the report flags the play instead.
MIN_ARM = 30  # contacts per arm
MIN_EVENTS = 5  # successes and failures per arm (the score approximation needs both)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for one proportion; (0, 1) when n is 0."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = (z / (1 + z2 / n)) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> tuple[float, float]:
    """Interval for p1 - p0 (exposed minus holdout)."""
    p1 = x1 / n1 if n1 else 0.0
    p0 = x0 / n0 if n0 else 0.0
    l1, u1 = wilson(x1, n1, z)
    l0, u0 = wilson(x0, n0, z)
    d = p1 - p0
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return max(-1.0, low), min(1.0, high)


@dataclass(frozen=True, slots=True)
class Lift:
    exposed: int
    exposed_converted: int
    holdout: int
    holdout_converted: int
    exposed_rate: float | None
    holdout_rate: float | None
    lift: float | None  # exposed_rate - holdout_rate, in rate units (0.10 = 10 points)
    low: float | None
    high: float | None
    too_small: bool

    @property
    def significant(self) -> bool:
        """The interval excludes 0 and the sample is large enough to read it."""
        if self.too_small or self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0

    def as_json(self) -> dict[str, object]:
        return {
            "exposed": self.exposed,
            "exposed_converted": self.exposed_converted,
            "holdout": self.holdout,
            "holdout_converted": self.holdout_converted,
            "exposed_rate": self.exposed_rate,
            "holdout_rate": self.holdout_rate,
            "lift": self.lift,
            "ci_low": self.low,
            "ci_high": self.high,
            "too_small": self.too_small,
            "significant": self.significant,
        }


def too_small(x1: int, n1: int, x0: int, n0: int) -> bool:
    """An arm under MIN_ARM contacts, or with under MIN_EVENTS conversions or
    non-conversions: the interval would be too wide or too unreliable to act on."""
    return any(n < MIN_ARM or x < MIN_EVENTS or n - x < MIN_EVENTS for x, n in ((x1, n1), (x0, n0)))


def holdout_lift(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> Lift:
    """Lift of the exposed arm (x1 of n1 converted) over the holdout (x0 of n0)."""
    if n1 == 0 or n0 == 0:
        return Lift(
            exposed=n1,
            exposed_converted=x1,
            holdout=n0,
            holdout_converted=x0,
            exposed_rate=x1 / n1 if n1 else None,
            holdout_rate=x0 / n0 if n0 else None,
            lift=None,
            low=None,
            high=None,
            too_small=True,
        )
    low, high = newcombe(x1, n1, x0, n0, z)
    return Lift(
        n1, x1, n0, x0, x1 / n1, x0 / n0, x1 / n1 - x0 / n0, low, high, too_small(x1, n1, x0, n0)
    )
