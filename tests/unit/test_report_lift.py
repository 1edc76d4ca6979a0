"""Acceptance 2: the holdout-lift interval over seeded binomial draws."""

from __future__ import annotations

import random

import pytest

from connector.report.lift import holdout_lift, newcombe, wilson

RUNS = 200
N = 2000


def _draw(rng: random.Random, p: float, n: int) -> int:
    return sum(rng.random() < p for _ in range(n))


def _intervals(p_exposed: float, p_holdout: float, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(RUNS):
        lift = holdout_lift(_draw(rng, p_exposed, N), N, _draw(rng, p_holdout, N), N)
        assert lift.low is not None
        assert lift.high is not None
        out.append((lift.low, lift.high))
    return out


def test_a_ten_point_lift_is_detected() -> None:
    intervals = _intervals(0.30, 0.20, seed=10)
    excluded = sum(low > 0 for low, _ in intervals)
    assert excluded >= 0.95 * RUNS


def test_no_lift_is_covered_about_95_percent() -> None:
    intervals = _intervals(0.25, 0.25, seed=20)
    covered = sum(low <= 0 <= high for low, high in intervals)
    # 95% nominal; a binomial(200, .95) lands in [182, 198] with > 99% probability
    assert 182 <= covered <= 198


def test_wilson_known_values() -> None:
    # Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)


def test_newcombe_known_values() -> None:
    # Newcombe (1998), table II example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = newcombe(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_small_samples_are_flagged() -> None:
    assert holdout_lift(3, 10, 1, 5).too_small
    assert holdout_lift(0, 500, 0, 500).too_small  # no events: nothing to compare
    assert not holdout_lift(150, 500, 100, 500).too_small
    empty = holdout_lift(5, 50, 0, 0)
    assert empty.lift is None
    assert empty.too_small
    assert not empty.significant


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 3)
