"""US state telemarketing rules ("mini-TCPA" laws) that are stricter than the federal
08:00-21:00: allowed local hours by weekday, no texts on the state's public holidays,
and a cap per subject in a rolling window. The shipped pack is `state_pack.US_PACK`; the
plays file may replace or add states (`policy.state_rules`).

A rule holds in every zone the recipient may be in (a Florida number whose CRM field
says Chicago is held to 08:00-20:00 in New York and in Chicago). Holidays come from the
`holidays` package (the state's subdivision calendar, observed days included), never a
hand-kept list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from connector.domain.caps import SendKind, SentRecord
from connector.domain.quiet_hours import ALL_DAYS, Window
from connector.domain.zones import state_zones

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ALL = range(7)


@lru_cache(maxsize=256)
def _calendar(state: str, year: int) -> Mapping[date, str]:
    return dict(holidays.country_holidays("US", subdiv=state, years=year))


def holiday(state: str, day: date) -> str | None:
    """The name of `state`'s public holiday on `day` (federal ones included), or None."""
    try:
        return _calendar(state, day.year).get(day)
    except NotImplementedError:  # a territory the package has no calendar for
        return None


@dataclass(frozen=True, slots=True)
class SubjectCap:
    """At most `texts` automated texts on one subject in any window of length `per`.
    A subject is a play: each play is about one thing."""

    texts: int
    per: timedelta = timedelta(hours=24)

    def __str__(self) -> str:
        hours = self.per.total_seconds() / 3600
        span = f"{hours:g} hours" if hours != 24 else "24 hours"
        return f"{self.texts} texts per {span} on one subject"


def _fmt(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _days(days: frozenset[int]) -> str:
    if days == ALL_DAYS:
        return ""
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]} "
    return ",".join(DAY_NAMES[d] for d in ordered) + " "


@dataclass(frozen=True, slots=True)
class StateRule:
    """One state's rule. `hours` are the allowed local spans, at most one per weekday; a
    weekday no span covers is closed (Sunday in AL, LA, MS)."""

    state: str
    hours: tuple[Window, ...]
    holidays: bool = False  # no texts on the state's public holidays
    subject_cap: SubjectCap | None = None
    law: str = ""  # the statute, for people reading `explain`
    by_weekday: tuple[tuple[time, time] | None, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # the chokepoint asks for a day's span many times per decision: a table, not a scan
        table = [next(((w.start, w.end) for w in self.hours if d in w.days), None) for d in ALL]
        object.__setattr__(self, "by_weekday", tuple(table))

    def span_on(self, day: date) -> tuple[time, time] | None:
        if self.holidays and holiday(self.state, day) is not None:
            return None
        return self.by_weekday[day.weekday()]

    def describe_hours(self) -> str:
        """'08:00-20:00', or 'Mon-Sat 09:00-21:00, Sun 12:00-21:00'; '; no Sun' etc."""
        shown = ", ".join(f"{_days(w.days)}{_fmt(w.start)}-{_fmt(w.end)}" for w in self.hours)
        covered = frozenset().union(*(w.days for w in self.hours))
        closed = sorted(ALL_DAYS - covered)
        if closed:
            shown += "; none on " + ", ".join(DAY_NAMES[d] for d in closed)
        if self.holidays:
            shown += "; none on state holidays"
        return shown

    def describe(self) -> str:
        """'FL: 08:00-20:00; 3 texts per 24 hours on one subject (Fla. Stat. ...)'."""
        cap = f"; {self.subject_cap}" if self.subject_cap is not None else ""
        law = f" ({self.law})" if self.law else ""
        return f"{self.state}: {self.describe_hours()}{cap}{law}"

    def why_closed(self, local: datetime) -> str | None:
        """Why this rule forbids a text at `local` (the recipient's wall clock), naming
        the state and the rule; None when it allows one."""
        day = local.date()
        where = f"in {local.tzinfo}" if local.tzinfo is not None else ""
        if self.holidays:
            name = holiday(self.state, day)
            if name is not None:
                return f"{self.state}: no texts on state holidays; {day} is {name} {where}"
        span = self.span_on(day)
        weekday = DAY_NAMES[day.weekday()]
        now = f"{weekday} {_fmt(local.time())}"
        if span is None:
            return f"{self.state} allows no texts on {weekday}; it is {now} {where}"
        if not span[0] <= local.time() < span[1]:
            return f"{self.state} allows {self.describe_hours()}; it is {now} {where}"
        return None

    def over_cap(
        self, play: str, sends: Iterable[SentRecord], at: datetime
    ) -> tuple[int, datetime] | None:
        """(texts already in the fullest window, that window's start) when one more text
        on `play`'s subject at `at` would put more than the cap in some window of length
        `per` that contains `at`; None when it fits. Two-sided, because deferred texts
        are scheduled later than texts decided after them."""
        cap = self.subject_cap
        if cap is None:
            return None
        near = sorted(
            s.at
            for s in sends
            if s.kind is SendKind.PLAY and s.play == play and abs(s.at - at) < cap.per
        )
        starts = [t for t in near if t <= at] or [at]
        for start in (*starts, at):
            inside = sum(1 for t in near if start <= t < start + cap.per)
            if start <= at < start + cap.per and inside >= cap.texts:
                return inside, start
        return None


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a policy's rules
class StateRules:
    """The rules in force, by state code."""

    rules: Mapping[str, StateRule] = field(default_factory=dict)

    def for_states(self, states: Sequence[str]) -> tuple[StateRule, ...]:
        return _for_states(self, tuple(states))

    def for_zones(self, zones: Sequence[str]) -> tuple[StateRule, ...]:
        """A recipient whose state is unknown gets the rules of every state that shares
        one of its possible zones: the strictest of them all hold."""
        return _for_zones(self, tuple(zones))


@lru_cache(maxsize=4096)
def _for_states(rules: StateRules, states: tuple[str, ...]) -> tuple[StateRule, ...]:
    return tuple(rules.rules[s] for s in dict.fromkeys(states) if s in rules.rules)


@lru_cache(maxsize=4096)
def _for_zones(rules: StateRules, zones: tuple[str, ...]) -> tuple[StateRule, ...]:
    wanted = set(zones)
    return tuple(
        rule for code, rule in sorted(rules.rules.items()) if wanted.intersection(state_zones(code))
    )


@dataclass(frozen=True, slots=True)
class ZoneHours:
    """One zone's allowed hours: the policy's window (maybe narrowed to business hours)
    and every state rule that applies, all at once; merged per weekday up front, since
    the chokepoint asks for a day's span many times per decision."""

    window: Window
    rules: tuple[StateRule, ...] = ()
    by_weekday: tuple[tuple[time, time] | None, ...] = field(init=False, compare=False)
    holiday_states: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        table: list[tuple[time, time] | None] = []
        for weekday in ALL:
            found = (self.window.start, self.window.end) if weekday in self.window.days else None
            for rule in self.rules:
                other = rule.by_weekday[weekday]
                if found is None or other is None:
                    found = None
                    break
                found = (max(found[0], other[0]), min(found[1], other[1]))
            table.append(found if found is not None and found[0] < found[1] else None)
        object.__setattr__(self, "by_weekday", tuple(table))
        states = tuple(r.state for r in self.rules if r.holidays)
        object.__setattr__(self, "holiday_states", states)

    def span_on(self, day: date) -> tuple[time, time] | None:
        for state in self.holiday_states:
            if holiday(state, day) is not None:
                return None
        return self.by_weekday[day.weekday()]

    def blocking_rule(self, local: datetime) -> str | None:
        """The first state rule that forbids `local`, as a sentence; None if none does."""
        for rule in self.rules:
            why = rule.why_closed(local)
            if why is not None:
                return why
        return None

    def __str__(self) -> str:
        return str(self.window)
