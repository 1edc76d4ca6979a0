"""Sending windows in the recipient's local time: which zones, and when they next open.

A number may ring in several zones (a multi-zone area code), so a send goes only when the
window is open in every one of them. Windows are daily spans [start, end) on chosen
weekdays; crossing midnight is not supported (the loader rejects it). DST is handled by
working in each zone's wall clock and re-checking the candidate instant, so a start that
falls in a spring-forward gap can only move later, never into a closed hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from connector.domain.model import TimeZones, TzSource

ALL_DAYS = frozenset(range(7))  # Monday is 0, as datetime.weekday() counts
HORIZON_DAYS = 8  # a window that is open on at least one weekday opens within this


@dataclass(frozen=True, slots=True)
class Window:
    """A daily span of local wall-clock time, [start, end), on `days` (0 = Monday)."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a window's end must be after its start")

    def intersect(self, other: Window) -> Window | None:
        """Both windows at once; None when they never overlap."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        days = self.days & other.days
        if end <= start or not days:
            return None
        return Window(start, end, days)

    def __str__(self) -> str:
        s, e = self.start, self.end
        return f"{s.hour:02d}:{s.minute:02d}-{e.hour:02d}:{e.minute:02d}"


DEFAULT_QUIET_WINDOW = Window(time(8), time(21))


@dataclass(frozen=True, slots=True)
class ZoneResolution:
    """The zones a send is checked in and where they came from; `source` None means the
    zone is unknown and the send is held."""

    zones: tuple[str, ...]
    source: TzSource | None

    def describe(self) -> str:
        if self.source is None:
            return "zone unknown (held)"
        return f"{', '.join(self.zones)} (from {self.source.value})"


def resolve_zones(
    known: TimeZones | None, phone_zones: tuple[str, ...], default_zone: str | None
) -> ZoneResolution:
    """CRM field first, then the number's area code, then the configured default."""
    if known is not None and known.zones:
        return ZoneResolution(known.zones, known.source)
    if phone_zones:
        return ZoneResolution(phone_zones, TzSource.AREA_CODE)
    if default_zone:
        return ZoneResolution((default_zone,), TzSource.DEFAULT)
    return ZoneResolution((), None)


@lru_cache(maxsize=1024)
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_open(at: datetime, zone: ZoneInfo, window: Window) -> bool:
    local = at.astimezone(zone)
    return local.weekday() in window.days and window.start <= local.time() < window.end


def all_open(at: datetime, spans: Sequence[tuple[ZoneInfo, Window]]) -> bool:
    return all(is_open(at, zone, window) for zone, window in spans)


def _day_openings(day: date, spans: Sequence[tuple[ZoneInfo, Window]]) -> list[datetime]:
    """Each zone's window start on its local `day`, as an instant in UTC. A start inside a
    spring-forward gap (02:30 on the day clocks skip to 03:00) lands as late as the gap is
    long (03:30), later than the true opening, so still safe; the window check then judges
    it by the real wall time.

    Normalising matters: an aware datetime still carrying the zone keeps its nonexistent
    wall time, and `astimezone(zone)` hands it back unchanged, so 02:00 on the
    spring-forward day would look open when it is 03:00."""
    return [
        datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
        for zone, window in spans
        if day.weekday() in window.days
    ]


def next_opening(at: datetime, spans: Sequence[tuple[ZoneInfo, Window]]) -> datetime | None:
    """`at` itself when every zone is open, else the earliest later instant (within
    HORIZON_DAYS) when all are; None when the windows never meet in that time.

    The first instant of an intersection of windows is always some zone's opening, so
    only those are tried, day by day (a day either side of `at`'s date in the first
    zone covers zones whose local date differs)."""
    if all_open(at, spans):
        return at
    first = at.astimezone(spans[0][0]).date() if spans else at.date()
    horizon = at + timedelta(days=HORIZON_DAYS)
    tried: set[datetime] = set()
    for offset in range(-1, HORIZON_DAYS + 2):
        day = first + timedelta(days=offset)
        for candidate in sorted(_day_openings(day, spans)):
            if candidate <= at or candidate in tried:
                continue
            if candidate > horizon:
                return None
            tried.add(candidate)
            if all_open(candidate, spans):
                return candidate.astimezone(at.tzinfo)
    return None
