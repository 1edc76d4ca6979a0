"""Properties of the state rules pack through the chokepoint, checked against the issue's
table written out here by hand (not the pack's own data): no text goes outside a state's
hours, on its Sundays or its holidays, in any zone the recipient may be in; and no play
sends more than 3 texts in any 24 hours to a number in FL, MD or OK."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.caps import FrequencyCaps, SendKind
from connector.domain.governance import (
    ContactContext,
    SendCandidate,
    evaluate,
    evaluate_batch,
    sends_after,
)
from connector.domain.model import ConsentStatus, ContactState, CrmRef, Verdict
from connector.domain.policy import Policy
from connector.domain.zones import contact_zones
from tests.unit.governance_kit import make_play, play_send
from tests.unit.test_state_rules import PHONES

SOME = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVERY_DAY = tuple(range(7))
MON_SAT = tuple(range(6))


def _hours(days: tuple[int, ...], start: int, end: int) -> dict[int, tuple[int, int]]:
    return dict.fromkeys(days, (start, end))


# weekday (0 = Monday) -> allowed local hours [start, end); a day not listed is closed
TABLE: dict[str, dict[int, tuple[int, int]]] = {
    "FL": _hours(EVERY_DAY, 8, 20),
    "OK": _hours(EVERY_DAY, 8, 20),
    "MD": _hours(EVERY_DAY, 8, 20),
    "CT": _hours(EVERY_DAY, 9, 20),
    "MS": _hours(MON_SAT, 8, 20),
    "AL": _hours(MON_SAT, 8, 20),
    "LA": _hours(MON_SAT, 8, 20),
    "MA": _hours(EVERY_DAY, 8, 20),
    "NV": _hours(EVERY_DAY, 9, 20),
    "MI": _hours(EVERY_DAY, 9, 21),
    "MN": _hours(EVERY_DAY, 9, 21),
    "NM": _hours(EVERY_DAY, 9, 21),
    "KY": _hours(EVERY_DAY, 10, 21),
    "RI": {**_hours(tuple(range(5)), 9, 18), 5: (10, 17)},
    "TX": {**_hours(MON_SAT, 9, 21), 6: (12, 21)},
}
NO_HOLIDAYS = {"AL", "LA", "RI"}
CAPPED = ("FL", "MD", "OK")
CRM_ZONES = (None, "America/New_York", "America/Chicago", "Europe/London", "Pacific/Honolulu")
instants = st.integers(
    int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) // 60,
    int(datetime(2030, 12, 31, tzinfo=UTC).timestamp()) // 60,
).map(lambda m: datetime.fromtimestamp(m * 60, tz=UTC))
PLAYS = (make_play("a", 10), make_play("b", 50), make_play("c", 90))
POLICY = Policy(plays={p.name: p for p in PLAYS}, caps=FrequencyCaps())


def _ctx(state: str, crm_zone: str | None, mapped: bool) -> ContactContext:
    phone = PHONES[state][0]
    region = state if mapped else None
    contact = ContactState(
        ref=CrmRef("Contact", f"003{state}"),
        phone=phone,
        time_zones=contact_zones(crm_zone, phone, "America/New_York", region=region),
        consent=ConsentStatus.OPTED_IN,
        segments={"region": region} if region else {},
    )
    return ContactContext(contact, {"first_name": "Ann"})


def _allowed(state: str, local: datetime) -> bool:
    span = TABLE[state].get(local.weekday())
    if span is None:
        return False
    if state in NO_HOLIDAYS and local.date() in holidays.country_holidays("US", subdiv=state):
        return False
    return time(span[0]) <= local.time() < time(span[1])


@SOME
@given(
    state=st.sampled_from(sorted(TABLE)),
    crm_zone=st.sampled_from(CRM_ZONES),
    mapped=st.booleans(),
    manual=st.booleans(),
    now=instants,
)
def test_no_text_outside_a_states_hours_in_any_plausible_zone(
    state: str, crm_zone: str | None, mapped: bool, manual: bool, now: datetime
) -> None:
    ctx = _ctx(state, crm_zone, mapped)
    candidate = SendCandidate(SendKind.MANUAL, body="hi") if manual else play_send(PLAYS[0], now)
    result = evaluate(candidate, ctx, POLICY, now)
    if result.verdict is Verdict.BLOCK:  # London and Honolulu may never meet a state's hours
        assert result.reasons[0].code == "quiet_hours"
        return
    assert result.send_at is not None
    assert result.zones is not None
    zones = set(result.zones.zones)
    assert PHONES[state][1] in zones  # the area code's zone is always checked
    if crm_zone:
        assert crm_zone in zones
    for zone in zones:
        local = result.send_at.astimezone(ZoneInfo(zone))
        assert _allowed(state, local), (state, zone, local)
        assert time(8) <= local.time() < time(21)  # the policy's window holds as well


@SOME
@given(
    state=st.sampled_from(CAPPED),
    batches=st.lists(
        st.tuples(st.integers(0, 60 * 24 * 4), st.lists(st.sampled_from(PLAYS), max_size=3)),
        min_size=1,
        max_size=10,
    ),
    start=instants,
)
def test_three_texts_per_24_hours_per_play_hold(
    state: str, batches: list[tuple[int, list[object]]], start: datetime
) -> None:
    ctx = _ctx(state, None, mapped=True)
    for minutes, group in sorted(batches, key=lambda b: b[0]):
        now = start + timedelta(minutes=minutes)
        candidates = [play_send(p, now) for p in group if p in PLAYS]
        results = evaluate_batch(candidates, ctx, POLICY, now)
        ctx = replace(ctx, sends=ctx.sends + sends_after(candidates, results))
    for sent in ctx.sends:
        window = [
            s
            for s in ctx.sends
            if s.play == sent.play and sent.at <= s.at < sent.at + timedelta(hours=24)
        ]
        assert len(window) <= 3, (sent.play, [s.at for s in window])
