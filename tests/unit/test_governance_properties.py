"""Properties of the chokepoint over random contacts, zones, DST dates and histories."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.domain.caps import FrequencyCaps, SendKind, SentRecord
from connector.domain.governance import SendCandidate, evaluate, evaluate_batch, sends_after
from connector.domain.holdout import assign
from connector.domain.model import ConsentStatus, TimeZones, TzSource, Verdict
from connector.domain.plays import OutsideWindow, Play
from connector.domain.policy import Policy, QuietHours
from connector.domain.quiet_hours import Window, is_open
from tests.unit.governance_kit import make_ctx, make_play, play_send

MANY = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
)
# 2000-2037 covers many DST rule changes; instants are minute-aligned, uniformly spread
instants = st.integers(
    int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) // 60,
    int(datetime(2037, 12, 31, tzinfo=UTC).timestamp()) // 60,
).map(lambda m: datetime.fromtimestamp(m * 60, tz=UTC))
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, 22 * 60))
    end = draw(st.integers(start + 1, 24 * 60 - 1))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return Window(time(start // 60, start % 60), time(end // 60, end % 60), days)


kinds = st.sampled_from(list(SendKind))
PLAYS = (make_play("a", 10), make_play("b", 50), make_play("c", 90, outside=OutsideWindow.DROP))


def _candidate(kind: SendKind, play: Play) -> SendCandidate:
    if kind is SendKind.PLAY:
        return SendCandidate(kind, play)
    return SendCandidate(kind, body="text")


@MANY
@given(
    events=st.lists(
        st.tuples(kinds, st.sampled_from(PLAYS), st.integers(0, 60 * 24 * 30)),
        min_size=1,
        max_size=12,
    ),
    start=instants,
    zones=zone_sets,
)
def test_no_send_to_an_opted_out_number_except_one_confirmation(
    events: list[tuple[SendKind, Play, int]], start: datetime, zones: tuple[str, ...]
) -> None:
    policy = Policy(plays={p.name: p for p in PLAYS}, caps=FrequencyCaps())
    ctx = replace(
        make_ctx(consent=ConsentStatus.OPTED_OUT, zones=TimeZones(zones, TzSource.CRM_FIELD)),
        opted_out_at=start,
    )
    went: list[SendKind] = []
    for kind, play, minutes in sorted(events, key=lambda e: e[2]):
        now = start + timedelta(minutes=minutes)
        result = evaluate(_candidate(kind, play), ctx, policy, now)
        if result.verdict is not Verdict.BLOCK:
            assert result.send_at is not None
            went.append(kind)
            ctx = replace(ctx, sends=(*ctx.sends, SentRecord(result.send_at, kind, None)))
    assert went in ([], [SendKind.OPT_OUT_CONFIRMATION])


@MANY
@given(
    now=instants,
    zones=zone_sets,
    default=windows(),
    per_zone=st.dictionaries(st.sampled_from(ZONES), windows(), max_size=3),
    play=st.sampled_from(PLAYS),
    manual=st.booleans(),
    business=st.booleans(),
)
def test_no_send_outside_quiet_hours_in_any_zone(  # noqa: PLR0917 - one per strategy
    now: datetime,
    zones: tuple[str, ...],
    default: Window,
    per_zone: dict[str, Window],
    play: Play,
    manual: bool,
    business: bool,
) -> None:
    play = replace(play, timing=replace(play.timing, business_hours_only=business))
    policy = Policy(
        quiet_hours=QuietHours(default=default, by_zone=per_zone),
        caps=FrequencyCaps(),
        plays={play.name: play},
    )
    ctx = make_ctx(zones=TimeZones(zones, TzSource.CRM_FIELD))
    candidate = SendCandidate(SendKind.MANUAL, body="hi") if manual else play_send(play, now)
    result = evaluate(candidate, ctx, policy, now)
    if result.verdict is Verdict.BLOCK:
        return
    assert result.send_at is not None
    assert result.send_at >= now
    for name in zones:
        window = per_zone.get(name, default)
        assert is_open(result.send_at, ZoneInfo(name), window), (name, result.send_at)
        if business and not manual:
            assert is_open(result.send_at, ZoneInfo(name), policy.business_hours)
    if play.timing.outside_window is OutsideWindow.DROP and not manual:
        assert result.send_at == now


@MANY
@given(
    batches=st.lists(
        st.tuples(
            st.integers(0, 60 * 24 * 21),
            st.lists(st.sampled_from(PLAYS), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=8,
    ),
    start=instants,
    zones=zone_sets,
    per_day=st.integers(0, 3),
    per_week=st.integers(0, 6),
    play_week=st.integers(0, 3),
)
def test_caps_are_never_exceeded_by_batches(  # noqa: PLR0917 - one per strategy
    batches: list[tuple[int, list[Play]]],
    start: datetime,
    zones: tuple[str, ...],
    per_day: int,
    per_week: int,
    play_week: int,
) -> None:
    plays = tuple(replace(p, caps=FrequencyCaps(per_week=play_week)) for p in PLAYS)
    by_name = {p.name: p for p in plays}
    policy = Policy(caps=FrequencyCaps(per_day, per_week), plays=by_name)
    ctx = make_ctx(zones=TimeZones(zones, TzSource.CRM_FIELD))
    for minutes, group in batches:
        now = start + timedelta(minutes=minutes)
        candidates = [play_send(by_name[p.name], now) for p in group]
        results = evaluate_batch(candidates, ctx, policy, now)
        ctx = replace(ctx, sends=ctx.sends + sends_after(candidates, results))
    local = ZoneInfo(zones[0])
    days = Counter(s.at.astimezone(local).date() for s in ctx.sends)
    weeks = Counter(s.at.astimezone(local).isocalendar()[:2] for s in ctx.sends)
    play_weeks = Counter((s.play, s.at.astimezone(local).isocalendar()[:2]) for s in ctx.sends)
    assert all(n <= per_day for n in days.values())
    assert all(n <= per_week for n in weeks.values())
    assert all(n <= play_week for n in play_weeks.values())


@MANY
@given(
    contact=st.text(min_size=1, max_size=18),
    percent=st.floats(0, 100),
    now=instants,
)
def test_holdout_contacts_never_get_the_play(contact: str, percent: float, now: datetime) -> None:
    play = make_play(holdout=percent)
    policy = Policy(plays={play.name: play}, caps=FrequencyCaps())
    ctx = make_ctx(contact_id=contact)
    result = evaluate(play_send(play, now), ctx, policy, now)
    assert result.holdout is not None
    assert result.holdout == assign(str(ctx.state.ref), play.name, percent)  # stable
    if result.holdout.held_out:
        assert result.verdict is Verdict.BLOCK


def test_holdout_is_uniform() -> None:
    held = sum(assign(f"00Q{i:012d}", "reactivation", 25.0).held_out for i in range(20_000))
    assert 4_700 < held < 5_300  # 25% within about 4.5 standard deviations
    again = sum(assign(f"00Q{i:012d}", "reactivation", 25.0).held_out for i in range(20_000))
    assert held == again
    other_play = [assign(f"00Q{i:012d}", "speed_to_lead", 25.0).held_out for i in range(2000)]
    mine = [assign(f"00Q{i:012d}", "reactivation", 25.0).held_out for i in range(2000)]
    assert other_play != mine  # independent per play, not one fixed control group


@MANY
@given(
    batches=st.lists(
        st.tuples(
            st.integers(0, 60 * 24 * 21),
            st.lists(st.sampled_from(PLAYS), min_size=1, max_size=4),
            st.integers(0, 6 * 60),  # how far ahead each play is queued (its delay)
        ),
        min_size=1,
        max_size=8,
    ),
    start=instants,
    zones=zone_sets,
    per_day=st.integers(0, 3),
    per_week=st.integers(0, 6),
)
def test_preempting_keeps_the_caps_and_only_ever_displaces_lower_priority_queued_texts(
    batches: list[tuple[int, list[Play], int]],
    start: datetime,
    zones: tuple[str, ...],
    per_day: int,
    per_week: int,
) -> None:
    by_name = {p.name: p for p in PLAYS}
    policy = Policy(caps=FrequencyCaps(per_day, per_week), plays=by_name)
    ctx = make_ctx(zones=TimeZones(zones, TzSource.CRM_FIELD))
    next_id = 1
    for minutes, group, ahead in batches:
        now = start + timedelta(minutes=minutes)
        # texts whose time has come are sent: no longer displaceable
        sends = [replace(s, queued_id=None) if s.at <= now else s for s in ctx.sends]
        ctx = replace(ctx, sends=tuple(sends))
        plays = [
            replace(by_name[p.name], timing=replace(p.timing, delay=timedelta(minutes=ahead)))
            for p in group
        ]
        policy = replace(policy, plays={**by_name, **{p.name: p for p in plays}})
        candidates = [play_send(p, now) for p in plays]
        results = evaluate_batch(candidates, ctx, policy, now, preempt=True)
        kept = list(ctx.sends)
        for candidate, result in zip(candidates, results, strict=True):
            if result.displaces is not None:
                [gone] = [s for s in kept if s.queued_id == result.displaces]
                assert gone.at > now  # never a text already sent
                assert candidate.play is not None
                assert by_name[gone.play or ""].priority < candidate.play.priority
                kept.remove(gone)
                event("preempted")
            if result.verdict is not Verdict.BLOCK and result.send_at is not None:
                name = candidate.play.name if candidate.play else None
                kept.append(SentRecord(result.send_at, SendKind.PLAY, name, queued_id=next_id))
                next_id += 1
        ctx = replace(ctx, sends=tuple(kept))
    local = ZoneInfo(zones[0])
    days = Counter(s.at.astimezone(local).date() for s in ctx.sends)
    weeks = Counter(s.at.astimezone(local).isocalendar()[:2] for s in ctx.sends)
    assert all(n <= per_day for n in days.values())
    assert all(n <= per_week for n in weeks.values())
