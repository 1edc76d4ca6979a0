"""Cutting a batch where a record or a number comes again.

Set-based steps (the pull's persist and consent, the planner's context reads) read a
whole segment before writing any of it. Within a segment each record and each number is
there once, so every record's step sees exactly what it saw when records were applied
one by one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from connector.domain.model import ContactState, CrmRef

T = TypeVar("T")


def apart(
    items: Sequence[T], contact: Callable[[T], ContactState], *, limit: int | None = None
) -> Iterator[list[T]]:
    """`items` in order, cut before an item whose record or number is already in the
    segment (or when the segment holds `limit`)."""
    segment: list[T] = []
    refs: set[CrmRef] = set()
    phones: set[str] = set()
    for item in items:
        state = contact(item)
        if (
            state.ref in refs
            or (state.phone is not None and state.phone in phones)
            or (limit is not None and len(segment) >= limit)
        ):
            yield segment
            segment, refs, phones = [], set(), set()
        segment.append(item)
        refs.add(state.ref)
        if state.phone is not None:
            phones.add(state.phone)
    if segment:
        yield segment
