"""engine/prefetch.py: the read-ahead keeps order, stays bounded, hands an error over
where it happened, and stops its producer when the consumer stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connector.engine.prefetch import Prefetch


def test_items_arrive_in_order_and_all_of_them() -> None:
    assert list(Prefetch(iter(range(50)), depth=2)) == list(range(50))


def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []
    consumed = threading.Event()  # never set: a bounded wait

    def source() -> Iterator[int]:
        for i in range(20):
            produced.append(i)
            yield i

    stream = iter(Prefetch(source(), depth=2))
    assert next(stream) == 0
    consumed.wait(0.5)  # give the producer time to run ahead as far as it may
    # one handed over, two queued, one in hand waiting for room
    assert len(produced) <= 4
    assert list(stream) == list(range(1, 20))


def test_an_error_of_the_source_is_raised_to_the_consumer_after_what_came_before() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    stream = iter(Prefetch(source(), depth=1))
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(RuntimeError, match="page 3 failed"):
        next(stream)


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    prefetch = Prefetch(source(), depth=1)
    for item in prefetch:
        if item == 3:
            break
    assert closed.wait(5)
    assert not prefetch._thread.is_alive()


def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Prefetch(iter(()), depth=0)
