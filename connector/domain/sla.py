"""SLA timers counted in business hours of a team's calendar.

A rep cannot be late at 3 a.m. on a Sunday, so a due time is the start plus only the open
hours of the calendar, in the calendar's own time zone. The arithmetic runs on UTC
instants, one open window per local day, so weekends, holidays and DST changes all fall
out of the same loop:

- an open window is ``[start, end]`` local time on an open day that is not a holiday;
- the time counted inside a window is real elapsed time, so a window that spans a DST
  change counts the hours that actually passed (one fewer in spring, one more in autumn);
- a wall-clock time skipped by a spring-forward gap is taken as the instant the clock
  jumps (an opening at 02:30 that day opens at 03:00), an ambiguous one as its first
  occurrence.

Every function takes the instant it needs (``now``, ``at``), so tests freeze the clock by
passing a fixed time. Timers are frozen: each helper returns a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.domain.model import SlaKind, SlaTimer, TaskPriority

WEEKDAYS: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
ESCALATION_TASK_KIND = "sla_escalation"
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When a team's SLA clock runs: open weekdays (0 = Monday), local opening hours, and
    holidays (local dates on which it does not run at all)."""

    time_zone: str
    days: frozenset[int]
    start: time
    end: time
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a business calendar needs at least one open day")
        if not self.days <= frozenset(range(7)):
            raise ValueError("open days are weekday numbers 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("opening hours are local wall-clock times, without a zone")
        if self.end <= self.start:
            raise ValueError(
                "end must be after start (hours that cross midnight are not supported)"
            )
        object.__setattr__(self, "_zone", ZoneInfo(self.time_zone))

    @classmethod
    def from_names(
        cls,
        time_zone: str,
        days: Iterable[str],
        start: time,
        end: time,
        holidays: Iterable[date] = (),
    ) -> BusinessCalendar:
        """Build from the mapping's weekday names ("mon".."sun")."""
        try:
            numbers = frozenset(WEEKDAYS[d.strip().lower()[:3]] for d in days)
        except KeyError as exc:
            raise ValueError(f"unknown weekday {exc.args[0]!r}; use mon..sun") from exc
        return cls(time_zone, numbers, start, end, frozenset(holidays))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def is_open_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants the clock runs between on local `day`, or None when closed."""
        if not self.is_open_day(day):
            return None
        return _instant(day, self.start, self._zone), _instant(day, self.end, self._zone)

    def windows_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows in time order, starting with the local day that contains `at`
        (that first one may already be over). Endless: the caller stops."""
        day = _utc(at).astimezone(self._zone).date()
        while True:
            found = self.window(day)
            if found is not None:
                yield found
            day += _ONE_DAY


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("SLA times must be timezone-aware (UTC); got a naive datetime")
    return at.astimezone(UTC)


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `wall` on `day` (see the module docstring for
    skipped and repeated wall times)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists; fold=0 is the first occurrence when it is ambiguous
    # Skipped by a spring-forward gap: the offset changes once between `before` and
    # `first`; find that instant to the second (zone transitions are on whole seconds).
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    offset_after = first.astimezone(zone).utcoffset()
    low, high = 0, int((first - before).total_seconds())
    while low < high:
        mid = (low + high) // 2
        if (before + timedelta(seconds=mid)).astimezone(zone).utcoffset() == offset_after:
            high = mid
        else:
            low = mid + 1
    return before + timedelta(seconds=low)


def add_business_time(
    start_utc: datetime, duration: timedelta, calendar: BusinessCalendar
) -> datetime:
    """The instant at which `duration` of open time has elapsed since `start_utc`.

    A zero duration started while closed lands on the next opening, so the due time is
    always inside an open window; a due time that uses a window to its last moment is
    that window's closing time (a 2-hour SLA from 15:00 is due at 17:00, not Monday)."""
    if duration < timedelta(0):
        raise ValueError("an SLA duration cannot be negative")
    cursor = _utc(start_utc)
    remaining = duration
    for opens, closes in calendar.windows_from(cursor):
        begin = max(cursor, opens)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        if available > timedelta(0):
            remaining -= available
    raise AssertionError("unreachable: windows_from never ends")  # pragma: no cover


def business_time_between(
    start_utc: datetime, end_utc: datetime, calendar: BusinessCalendar
) -> timedelta:
    """Open time counted from `start_utc` to `end_utc` (zero when end is not later); what
    is left of an SLA is ``business_time_between(now, timer.due, calendar)``."""
    start, end = _utc(start_utc), _utc(end_utc)
    total = timedelta(0)
    if end <= start:
        return total
    for opens, closes in calendar.windows_from(start):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def is_open(at: datetime, calendar: BusinessCalendar) -> bool:
    """True when `at` falls inside an open window, its ends included."""
    moment = _utc(at)
    found = calendar.window(moment.astimezone(calendar.zone).date())
    return found is not None and found[0] <= moment <= found[1]


# --- timers ---------------------------------------------------------------------------


def start_timer(
    kind: SlaKind, started: datetime, within: timedelta, calendar: BusinessCalendar
) -> SlaTimer:
    """A new open timer, due after `within` business time."""
    begin = _utc(started)
    return SlaTimer(kind=kind, started=begin, due=add_business_time(begin, within, calendar))


def is_breached(timer: SlaTimer, now: datetime) -> bool:
    """True once the timer missed its due time: already marked breached, answered late, or
    still unanswered after the due instant (answering exactly at the due time is on time)."""
    if timer.breached is not None:
        return True
    if timer.met is not None:
        return timer.met > timer.due
    return _utc(now) > timer.due


def meet(timer: SlaTimer, at: datetime) -> SlaTimer:
    """Record the rep's answer. The first answer counts; a breached timer keeps its breach
    and records when it was finally answered."""
    if timer.met is not None:
        return timer
    return replace(timer, met=_utc(at))


def breach(timer: SlaTimer, at: datetime) -> SlaTimer:
    """Mark an unanswered, overdue timer breached. Replaying it is harmless; breaching a
    timer that is answered or not yet due is a caller bug and raises."""
    if timer.breached is not None:
        return timer
    if timer.met is not None:
        raise ValueError("the SLA was already met; it cannot be breached")
    moment = _utc(at)
    if moment <= timer.due:
        raise ValueError("the SLA is not due yet; it cannot be breached")
    return replace(timer, breached=moment)


_RAISED: dict[str, TaskPriority] = {"low": "normal", "normal": "high", "high": "high"}


def raise_priority(priority: TaskPriority) -> TaskPriority:
    """One step up; high stays high."""
    return _RAISED[priority]


@dataclass(frozen=True, slots=True)
class Escalation:
    """What a breach writes besides the record's SLA fields (`engine.crm_records`): the
    follow-up task's raised priority, and an escalation task (of `task_kind`) for the team
    lead."""

    timer: SlaTimer
    priority: TaskPriority
    task_kind: str
    lead_id: str | None


def escalate(
    timer: SlaTimer, at: datetime, task_priority: TaskPriority, lead_id: str | None
) -> Escalation | None:
    """The escalation for a breached timer, once: None when it was already escalated, so
    a replayed sweep writes nothing new. An unbreached timer raises (breach it first)."""
    if timer.breached is None:
        raise ValueError("only a breached SLA escalates; call breach() first")
    if timer.escalated is not None:
        return None
    return Escalation(
        timer=replace(timer, escalated=_utc(at)),
        priority=raise_priority(task_priority),
        task_kind=ESCALATION_TASK_KIND,
        lead_id=lead_id,
    )


# --- words for people ---------------------------------------------------------------


def zone_abbreviation(at: datetime, zone: ZoneInfo) -> str:
    """The zone as a rep says it: North American EST/EDT as ET (PST/PDT as PT, ...), any
    other abbreviation as the zone database gives it ("GMT", "CET", "+03")."""
    name = _utc(at).astimezone(zone).tzname() or zone.key
    if len(name) == 3 and name[1] in "SD" and name[2] == "T" and name[0] in "ECMPAH":
        return name[0] + "T"
    return name


def clock_words(at: datetime, zone: ZoneInfo, *, weekday: bool = True) -> str:
    """``10:00 AM Thursday ET``: a local time a rep reads without converting."""
    local = _utc(at).astimezone(zone)
    hour = local.strftime("%I:%M %p").lstrip("0")
    day = f" {local.strftime('%A')}" if weekday else ""
    return f"{hour}{day} {zone_abbreviation(at, zone)}"


def duration_words(within: timedelta) -> str:
    """``2 business hours``, ``90 business minutes``."""
    minutes = int(within.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} business hour{'s' if hours != 1 else ''}"
    return f"{minutes} business minute{'s' if minutes != 1 else ''}"


def due_words(due: datetime, within: timedelta | None, zone: ZoneInfo) -> str:
    """``by 10:00 AM Thursday ET, 2 business hours``: the due time in the owner's zone and
    the promise it comes from."""
    words = f"by {clock_words(due, zone)}"
    return f"{words}, {duration_words(within)}" if within is not None else words
