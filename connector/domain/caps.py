"""Frequency caps, counted in calendar buckets of the recipient's local time.

Buckets (a local date, an ISO week) rather than rolling windows, so a send scheduled for
later and one inserted before it can never together overflow a bucket unnoticed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum, unique
from functools import lru_cache
from zoneinfo import ZoneInfo


@unique
class SendKind(StrEnum):
    """What asked for a text; governance applies different checks to each (see
    governance.py)."""

    PLAY = "play"
    MANUAL = "manual"
    HELP_REPLY = "help_reply"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"


@dataclass(frozen=True, slots=True)
class SentRecord:
    """An outbound text already sent or scheduled (deferred) for the contact."""

    at: datetime
    kind: SendKind
    play: str | None = None
    queued_id: int | None = None  # an outbox row not yet sent: a higher-priority play may
    # take its place when a cap is full


@dataclass(frozen=True, slots=True)
class FrequencyCaps:
    """At most `per_day` texts per local day and `per_week` per local ISO week; None is
    no cap."""

    per_day: int | None = None
    per_week: int | None = None


@lru_cache(maxsize=65_536)  # the hot path: the same sends are bucketed per candidate
def _buckets(at: datetime, zone: ZoneInfo) -> tuple[date, tuple[int, int]]:
    local = at.astimezone(zone)
    iso = local.isocalendar()
    return local.date(), (iso.year, iso.week)


def bucket_of(at: datetime, zone: ZoneInfo) -> tuple[date, tuple[int, int]]:
    """The local date and ISO (year, week) that `at` counts in."""
    return _buckets(at, zone)


@dataclass(frozen=True, slots=True)
class CapUse:
    day: int
    week: int


def usage(
    sends: Iterable[SentRecord], at: datetime, zone: ZoneInfo, play: str | None = None
) -> CapUse:
    """Automated texts in `at`'s local day and week (of one play when `play` is given)."""
    day, week = _buckets(at, zone)
    in_day = in_week = 0
    for sent in sends:
        if sent.kind is not SendKind.PLAY or (play is not None and sent.play != play):
            continue
        sent_day, sent_week = _buckets(sent.at, zone)
        if sent_week == week:
            in_week += 1
            if sent_day == day:
                in_day += 1
    return CapUse(in_day, in_week)


def exceeded(use: CapUse, caps: FrequencyCaps) -> str | None:
    """'day' or 'week' when one more text would go over; None when it fits."""
    if caps.per_day is not None and use.day >= caps.per_day:
        return "day"
    if caps.per_week is not None and use.week >= caps.per_week:
        return "week"
    return None
