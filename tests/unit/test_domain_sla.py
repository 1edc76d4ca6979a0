"""Business-hours SLA arithmetic and timer transitions.

The functions take every instant as an argument, so the clock is frozen by construction:
each test passes fixed datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.model import SlaKind, SlaTimer
from connector.domain.sla import (
    ESCALATION_TASK_KIND,
    BusinessCalendar,
    add_business_time,
    breach,
    business_time_between,
    escalate,
    is_breached,
    is_open,
    meet,
    raise_priority,
    start_timer,
)

NY = "America/New_York"
LA = "America/Los_Angeles"
WEEKDAYS = frozenset(range(5))
H = timedelta(hours=1)


def office(zone: str = NY, holidays: frozenset[date] = frozenset()) -> BusinessCalendar:
    return BusinessCalendar(zone, WEEKDAYS, time(9), time(17), holidays)


def local(  # noqa: PLR0917 - called like datetime(...)
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    """A local wall time, as the UTC instant the functions take."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --- explicit cases -------------------------------------------------------------------


def test_within_one_day() -> None:
    start = local(NY, 2026, 3, 3, 10, 0)  # Tuesday
    assert add_business_time(start, 2 * H, office()) == local(NY, 2026, 3, 3, 12, 0)


def test_started_before_opening_counts_from_opening() -> None:
    start = local(NY, 2026, 3, 3, 6, 0)
    assert add_business_time(start, 30 * timedelta(minutes=1), office()) == local(
        NY, 2026, 3, 3, 9, 30
    )


def test_using_the_window_to_the_end_is_due_at_closing_not_the_next_day() -> None:
    start = local(NY, 2026, 3, 3, 15, 0)
    assert add_business_time(start, 2 * H, office()) == local(NY, 2026, 3, 3, 17, 0)


def test_across_a_weekend() -> None:
    friday = local(NY, 2026, 2, 27, 16, 0)
    assert add_business_time(friday, 2 * H, office()) == local(NY, 2026, 3, 2, 10, 0)


def test_started_on_a_weekend_counts_from_monday_opening() -> None:
    saturday = local(NY, 2026, 2, 28, 12, 0)
    assert add_business_time(saturday, H, office()) == local(NY, 2026, 3, 2, 10, 0)


def test_across_a_holiday() -> None:
    thanksgiving = date(2026, 11, 26)
    wednesday = local(NY, 2026, 11, 25, 16, 30)
    due = add_business_time(wednesday, H, office(holidays=frozenset({thanksgiving})))
    assert due == local(NY, 2026, 11, 27, 9, 30)
    # Without the holiday it is due on Thursday.
    assert add_business_time(wednesday, H, office()) == local(NY, 2026, 11, 26, 9, 30)


@pytest.mark.parametrize("zone", [NY, LA])
def test_weekend_with_spring_forward(zone: str) -> None:
    # 2026-03-08 is the US spring-forward Sunday: Friday is standard time, Monday daylight.
    friday = local(zone, 2026, 3, 6, 16, 0)
    due = add_business_time(friday, 2 * H, office(zone))
    assert due == local(zone, 2026, 3, 9, 10, 0)
    assert due.astimezone(ZoneInfo(zone)).hour == 10
    # 66 wall-clock hours later, but only 65 real ones passed.
    assert due - friday == timedelta(hours=65)


@pytest.mark.parametrize("zone", [NY, LA])
def test_weekend_with_fall_back(zone: str) -> None:
    # 2026-11-01 is the US fall-back Sunday.
    friday = local(zone, 2026, 10, 30, 16, 0)
    due = add_business_time(friday, 2 * H, office(zone))
    assert due == local(zone, 2026, 11, 2, 10, 0)
    assert due - friday == timedelta(hours=67)


@pytest.mark.parametrize(
    ("zone", "day", "real_hours"),
    [
        (NY, date(2026, 3, 8), 5),
        (LA, date(2026, 3, 8), 5),
        (NY, date(2026, 11, 1), 7),
        (LA, date(2026, 11, 1), 7),
    ],
)
def test_a_window_spanning_the_dst_change_counts_real_elapsed_time(
    zone: str, day: date, real_hours: int
) -> None:
    night = BusinessCalendar(zone, frozenset(range(7)), time(0), time(6))
    opens = local(zone, day.year, day.month, day.day, 0, 0)
    closes = local(zone, day.year, day.month, day.day, 6, 0)
    assert business_time_between(opens, closes, night) == timedelta(hours=real_hours)
    assert add_business_time(opens, timedelta(hours=real_hours), night) == closes


def test_an_opening_time_skipped_by_spring_forward_opens_at_the_jump() -> None:
    cal = BusinessCalendar(NY, frozenset(range(7)), time(2, 30), time(5))
    before = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    jump = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 02:00 EST becomes 03:00 EDT
    assert add_business_time(before, timedelta(0), cal) == jump
    # Open 03:00 to 05:00 EDT that day: two real hours.
    assert business_time_between(before, before + timedelta(days=1), cal) == 2 * H


def test_zero_duration_started_while_closed_lands_on_the_next_opening() -> None:
    sunday = local(NY, 2026, 3, 1, 12, 0)
    assert add_business_time(sunday, timedelta(0), office()) == local(NY, 2026, 3, 2, 9, 0)


def test_between_is_zero_when_end_is_not_later() -> None:
    at = local(NY, 2026, 3, 3, 10, 0)
    assert business_time_between(at, at, office()) == timedelta(0)
    assert business_time_between(at, at - H, office()) == timedelta(0)


def test_is_open_includes_both_ends_of_the_window() -> None:
    cal = office()
    assert is_open(local(NY, 2026, 3, 3, 9, 0), cal)
    assert is_open(local(NY, 2026, 3, 3, 17, 0), cal)
    assert not is_open(local(NY, 2026, 3, 3, 17, 1), cal)
    assert not is_open(local(NY, 2026, 3, 7, 12, 0), cal)  # Saturday


def test_rejects_naive_times_and_negative_durations() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(datetime(2026, 3, 3, 10), H, office())  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        add_business_time(local(NY, 2026, 3, 3, 10), -H, office())


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (frozenset(), time(9), time(17), "at least one open day"),
        (frozenset({7}), time(9), time(17), "weekday numbers"),
        (WEEKDAYS, time(17), time(9), "end must be after start"),
        (WEEKDAYS, time(9), time(9), "end must be after start"),
        (WEEKDAYS, time(9, tzinfo=UTC), time(17), "wall-clock"),
    ],
)
def test_calendar_rejects_bad_settings(
    days: frozenset[int], start: time, end: time, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(NY, days, start, end)


def test_calendar_from_the_mappings_weekday_names() -> None:
    cal = BusinessCalendar.from_names(LA, ["mon", "Wed", "fri"], time(8), time(16))
    assert cal.days == frozenset({0, 2, 4})
    with pytest.raises(ValueError, match="unknown weekday 'xyz'"):
        BusinessCalendar.from_names(LA, ["xyz"], time(8), time(16))


# --- properties -----------------------------------------------------------------------

ZONES = [NY, LA, "Europe/London", "Australia/Sydney", "Asia/Kolkata", "America/Santiago"]
QUARTER = timedelta(minutes=15)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    # Opening after 04:00 keeps every zone's DST change outside the window, so the
    # wall-clock oracle below reads unambiguous times; windows spanning a change are
    # covered by the explicit tests above.
    start = draw(st.integers(4 * 4, 12 * 4))
    end = draw(st.integers(start + 1, 23 * 4 + 3))
    holidays = draw(st.frozensets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=10))
    return BusinessCalendar(
        draw(st.sampled_from(ZONES)),
        draw(st.frozensets(st.integers(0, 6), min_size=1)),
        time(start // 4, start % 4 * 15),
        time(end // 4, end % 4 * 15),
        holidays,
    )


starts = st.integers(0, 365 * 24 * 4).map(lambda q: datetime(2026, 1, 1, tzinfo=UTC) + q * QUARTER)
durations = st.integers(0, 60 * 4).map(lambda q: q * QUARTER)


@settings(max_examples=300, deadline=None)
@given(calendars(), starts, durations)
def test_due_is_after_start_counts_exactly_the_duration_and_is_open(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = add_business_time(start, duration, cal)
    assert due >= start
    assert business_time_between(start, due, cal) == duration
    assert is_open(due, cal)
    wall = due.astimezone(cal.zone)
    assert cal.is_open_day(wall.date())
    assert cal.start <= wall.time().replace(tzinfo=None) <= cal.end


@settings(max_examples=300, deadline=None)
@given(calendars(), starts, durations, durations)
def test_adding_in_two_steps_equals_adding_at_once(
    cal: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    in_steps = add_business_time(add_business_time(start, first, cal), second, cal)
    assert in_steps == add_business_time(start, first + second, cal)


def _open_quarters(cal: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Independent oracle: walk real time a quarter-hour at a time and count the quarters
    whose local wall-clock time is inside the opening hours of an open day."""
    counted = timedelta(0)
    at = start
    while at < end:
        wall = at.astimezone(cal.zone)
        if cal.is_open_day(wall.date()) and cal.start <= wall.time() < cal.end:
            counted += QUARTER
        at += QUARTER
    return counted


@settings(max_examples=150, deadline=None)
@given(calendars(), starts, st.integers(0, 30 * 4).map(lambda q: q * QUARTER))
def test_counted_time_matches_a_wall_clock_walk(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = add_business_time(start, duration, cal)
    assert _open_quarters(cal, start, due) == duration


# --- timers ---------------------------------------------------------------------------


def _timer() -> SlaTimer:
    # Reply on Friday 16:00 before the spring-forward weekend, 2-hour first response.
    return start_timer(SlaKind.FIRST_RESPONSE, local(NY, 2026, 3, 6, 16, 0), 2 * H, office())


def test_start_timer_counts_the_due_time_in_business_hours() -> None:
    timer = _timer()
    assert timer.due == local(NY, 2026, 3, 9, 10, 0)
    assert timer.open
    assert timer.kind is SlaKind.FIRST_RESPONSE


def test_breach_happens_only_after_the_business_hours_due_time() -> None:
    timer = _timer()
    assert not is_breached(timer, local(NY, 2026, 3, 8, 23, 0))  # Sunday night
    assert not is_breached(timer, timer.due)  # answering at the due time is on time
    assert is_breached(timer, timer.due + timedelta(seconds=1))
    with pytest.raises(ValueError, match="not due yet"):
        breach(timer, timer.due)


def test_breach_then_escalate_once() -> None:
    timer = _timer()
    later = timer.due + timedelta(minutes=5)
    breached = breach(timer, later)
    assert breached.breached == later
    assert not breached.open
    assert is_breached(breached, timer.started)  # a recorded breach stays a breach
    assert breach(breached, later + H) is breached  # replayed sweep: unchanged

    escalation = escalate(breached, later, "normal", "lead-1")
    assert escalation is not None
    assert escalation.timer.escalated == later
    assert escalation.priority == "high"
    assert escalation.task_kind == ESCALATION_TASK_KIND
    assert escalation.lead_id == "lead-1"
    assert escalate(escalation.timer, later + H, "normal", "lead-1") is None


def test_escalating_an_unbreached_timer_is_a_bug() -> None:
    with pytest.raises(ValueError, match="only a breached SLA"):
        escalate(_timer(), local(NY, 2026, 3, 9, 12, 0), "low", None)


def test_meet_records_the_first_answer() -> None:
    timer = _timer()
    answered = meet(timer, local(NY, 2026, 3, 9, 9, 30))
    assert answered.met == local(NY, 2026, 3, 9, 9, 30)
    assert not answered.open
    assert not is_breached(answered, local(NY, 2026, 3, 20, 9, 0))
    assert meet(answered, local(NY, 2026, 3, 9, 9, 45)) is answered
    with pytest.raises(ValueError, match="already met"):
        breach(answered, timer.due + H)


def test_answered_late_counts_as_breached_and_keeps_the_breach() -> None:
    timer = _timer()
    late = meet(timer, timer.due + H)
    assert is_breached(late, timer.due + H)
    breached = breach(timer, timer.due + H)
    answered = meet(breached, timer.due + 2 * H)
    assert answered.breached == timer.due + H
    assert answered.met == timer.due + 2 * H


@pytest.mark.parametrize(
    ("before", "after"), [("low", "normal"), ("normal", "high"), ("high", "high")]
)
def test_raise_priority_one_step(before: str, after: str) -> None:
    assert raise_priority(before) == after  # type: ignore[arg-type]
