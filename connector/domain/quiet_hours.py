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
from typing import Protocol
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

    def span_on(self, day: date) -> tuple[time, time] | None:
        return (self.start, self.end) if day.weekday() in self.days else None

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


class Hours(Protocol):
    """Allowed local hours: at most one [start, end) span per local date (a `Window`, or
    a window narrowed by state rules and holidays)."""

    def span_on(self, day: date, /) -> tuple[time, time] | None: ...


Span = tuple[ZoneInfo, Hours]


@dataclass(frozen=True, slots=True)
class ZoneResolution:
    """The zones a send is checked in, each with where it came from (`origins`: several
    sources at once); `source` None means no zone is known and the send is held."""

    zones: tuple[str, ...]
    source: TzSource | None
    origins: tuple[tuple[str, TzSource], ...] = ()
    states: tuple[tuple[str, str], ...] = ()  # (US state, how known: region, area_code...)
    rules: tuple[str, ...] = ()  # the state rules that apply, as people read them

    def pairs(self) -> tuple[tuple[str, TzSource], ...]:
        if self.origins or self.source is None:
            return self.origins
        return tuple((zone, self.source) for zone in self.zones)

    def sources_of(self, zone: str) -> tuple[TzSource, ...]:
        return tuple(source for z, source in self.pairs() if z == zone)

    def sources(self) -> tuple[TzSource, ...]:
        return tuple(dict.fromkeys(source for _, source in self.pairs()))

    def describe(self) -> str:
        """'America/Denver (area_code, state), Europe/London (crm_field)'."""
        if self.source is None:
            return "zone unknown (held)"
        return ", ".join(
            f"{zone} ({', '.join(s.value for s in self.sources_of(zone))})" for zone in self.zones
        )


def resolve_zones(
    known: TimeZones | None, phone_zones: tuple[str, ...], default_zone: str | None
) -> ZoneResolution:
    """Every zone `known` names (with its sources) and the number's area-code zones;
    with none, the configured default; with no default, unknown. A stored DEFAULT guess
    counts as nothing known, so the policy's unknown-zone rule decides."""
    pairs = [p for p in known.pairs() if p[1] is not TzSource.DEFAULT] if known else []
    pairs.extend((zone, TzSource.AREA_CODE) for zone in phone_zones)
    found = TimeZones.of(pairs)
    if found is not None:
        return ZoneResolution(found.zones, found.source, found.pairs())
    if default_zone:
        return ZoneResolution((default_zone,), TzSource.DEFAULT)
    return ZoneResolution((), None)


@lru_cache(maxsize=1024)
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_open(at: datetime, zone: ZoneInfo, hours: Hours) -> bool:
    local = at.astimezone(zone)
    span = hours.span_on(local.date())
    return span is not None and span[0] <= local.time() < span[1]


def all_open(at: datetime, spans: Sequence[Span]) -> bool:
    return all(is_open(at, zone, hours) for zone, hours in spans)


def _day_openings(day: date, spans: Sequence[Span]) -> list[datetime]:
    """Each zone's window start on its local `day`, as an instant in UTC. A start inside a
    spring-forward gap (02:30 on the day clocks skip to 03:00) lands as late as the gap is
    long (03:30), later than the true opening, so still safe; the window check then judges
    it by the real wall time.

    Normalising matters: an aware datetime still carrying the zone keeps its nonexistent
    wall time, and `astimezone(zone)` hands it back unchanged, so 02:00 on the
    spring-forward day would look open when it is 03:00."""
    out = []
    for zone, hours in spans:
        span = hours.span_on(day)
        if span is not None:
            out.append(datetime.combine(day, span[0], tzinfo=zone).astimezone(UTC))
    return out


def next_opening(at: datetime, spans: Sequence[Span]) -> datetime | None:
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
