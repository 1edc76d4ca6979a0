"""The US state rules pack through the chokepoint: each state's hours, Sundays and holidays,
the "3 per 24 hours on one subject" caps, and the opt-out instruction on a first text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.domain.caps import FrequencyCaps, SendKind, SentRecord
from connector.domain.disclosure import OptOutInstruction
from connector.domain.governance import ContactContext, Evaluation, SendCandidate, evaluate
from connector.domain.model import ConsentStatus, ContactState, CrmRef, Verdict
from connector.domain.plays import Play
from connector.domain.policy import Policy
from connector.domain.quiet_hours import Window
from connector.domain.state_pack import NO_PACK, US_PACK
from connector.domain.state_rules import StateRule, StateRules
from connector.domain.zones import contact_zones
from tests.unit.governance_kit import make_play, play_send

PLAY = make_play()
OTHER = make_play("renewal_reminder", 40)
POLICY = Policy(plays={p.name: p for p in (PLAY, OTHER)}, caps=FrequencyCaps())
# a number and its zone in each state of the pack
PHONES = {
    "AL": ("+12055550123", "America/Chicago"),
    "CT": ("+12035550123", "America/New_York"),
    "FL": ("+13055550123", "America/New_York"),
    "KY": ("+15025550123", "America/New_York"),
    "LA": ("+15045550123", "America/Chicago"),
    "MA": ("+16175550123", "America/New_York"),
    "MD": ("+14105550123", "America/New_York"),
    "MI": ("+13135550123", "America/New_York"),
    "MN": ("+16125550123", "America/Chicago"),
    "MS": ("+16015550123", "America/Chicago"),
    "NM": ("+15055550123", "America/Denver"),
    "NV": ("+17025550123", "America/Los_Angeles"),
    "OK": ("+14055550123", "America/Chicago"),
    "RI": ("+14015550123", "America/New_York"),
    "TX": ("+12145550123", "America/Chicago"),
}
NY = "+12125550123"


def ctx_in(state: str, *, region: bool = True, language: str | None = None) -> ContactContext:
    phone = PHONES[state][0] if state in PHONES else NY
    segments = {"region": state} if region else {}
    if language:
        segments["language"] = language
    contact = ContactState(
        ref=CrmRef("Lead", f"00Q{state}"),
        phone=phone,
        time_zones=contact_zones(None, phone, "America/New_York", region=segments.get("region")),
        consent=ConsentStatus.OPTED_IN,
        segments=segments,
    )
    return ContactContext(contact, {"first_name": "Ann"})


def local(state: str, when: str) -> datetime:
    """'2026-03-03 20:15' in the state's zone, as an aware UTC instant."""
    zone = ZoneInfo(PHONES[state][1])
    return datetime.fromisoformat(when).replace(tzinfo=zone).astimezone(UTC)


def run(state: str, when: str, play: Play = PLAY, rules: StateRules = US_PACK) -> Evaluation:
    at = local(state, when)
    return evaluate(play_send(play, at), ctx_in(state), replace(POLICY, state_rules=rules), at)


def test_every_state_of_the_issue_is_in_the_pack() -> None:
    assert set(US_PACK.rules) == set(PHONES)


# Tuesday 3 March 2026 (no holiday anywhere): a time the federal 08:00-21:00 allows and
# the state does not, then the opening, in the number's zone. A state that spans two zones
# holds in both: FL, KY and MI open an hour late in New York (their Central part), TX in
# Chicago (El Paso is on Mountain time).
@pytest.mark.parametrize(
    ("state", "closed", "opens", "says"),
    [
        ("FL", "20:15", "09:00", "FL allows 08:00-20:00; it is Tue 20:15 in America/New_York"),
        ("OK", "20:15", "08:00", "OK allows 08:00-20:00"),
        ("MD", "20:15", "08:00", "MD allows 08:00-20:00"),
        ("CT", "08:30", "09:00", "CT allows 09:00-20:00"),
        ("MS", "20:15", "08:00", "MS allows Mon-Sat 08:00-20:00; none on Sun"),
        ("AL", "20:15", "08:00", "AL allows Mon-Sat 08:00-20:00; none on Sun; none on state"),
        ("LA", "20:15", "08:00", "LA allows Mon-Sat 08:00-20:00; none on Sun; none on state"),
        ("MA", "20:15", "08:00", "MA allows 08:00-20:00"),
        ("NV", "08:30", "09:00", "NV allows 09:00-20:00; it is Tue 08:30 in America/Los_Angeles"),
        ("MI", "08:30", "10:00", "MI allows 09:00-21:00"),
        ("MN", "08:30", "09:00", "MN allows 09:00-21:00"),
        ("NM", "08:30", "09:00", "NM allows 09:00-21:00; it is Tue 08:30 in America/Denver"),
        ("KY", "09:30", "11:00", "KY allows 10:00-21:00"),
        ("RI", "18:30", "09:00", "RI allows Mon-Fri 09:00-18:00, Sat 10:00-17:00; none on Sun"),
        ("TX", "08:30", "10:00", "TX allows Mon-Sat 09:00-21:00, Sun 12:00-21:00"),
    ],
)
def test_each_state_holds_its_hours_and_names_itself(
    state: str, closed: str, opens: str, says: str
) -> None:
    result = run(state, f"2026-03-03 {closed}")
    assert result.verdict is Verdict.DEFER
    [reason] = result.reasons
    assert reason.code == "quiet_hours"
    assert reason.detail.startswith(says), reason.detail
    hour, minute = (int(x) for x in opens.split(":"))
    day = 3 if time(hour, minute) > time.fromisoformat(closed) else 4
    assert result.send_at == local(state, f"2026-03-0{day} {opens}")
    assert run(state, f"2026-03-04 {opens}").verdict is Verdict.ALLOW


@pytest.mark.parametrize("state", ["AL", "LA", "MS", "RI"])
def test_no_texts_on_sunday_in_al_la_ms_ri(state: str) -> None:
    result = run(state, "2026-03-01 12:00")  # a Sunday
    assert result.verdict is Verdict.DEFER
    assert result.reasons[0].detail.startswith(f"{state} allows no texts on Sun; it is Sun 12:00")
    opens = "09:00" if state == "RI" else "08:00"
    assert result.send_at == local(state, f"2026-03-02 {opens}")


def test_texas_sunday_opens_at_noon_and_rhode_island_saturday_closes_at_five() -> None:
    # noon in El Paso (Mountain) is 13:00 in Chicago
    assert run("TX", "2026-03-01 11:00").send_at == local("TX", "2026-03-01 13:00")
    assert run("TX", "2026-03-01 13:00").verdict is Verdict.ALLOW
    assert run("RI", "2026-03-07 10:30").verdict is Verdict.ALLOW  # Saturday
    late = run("RI", "2026-03-07 17:30")
    assert late.send_at == local("RI", "2026-03-09 09:00")  # not Sunday: Monday


@pytest.mark.parametrize(
    ("state", "day", "name", "next_open"),
    [
        ("AL", "2026-04-27", "Confederate Memorial Day", "2026-04-28 08:00"),
        ("LA", "2026-02-17", "Mardi Gras", "2026-02-18 08:00"),
        ("RI", "2026-08-10", "Victory Day", "2026-08-11 09:00"),
    ],
)
def test_no_texts_on_state_holidays(state: str, day: str, name: str, next_open: str) -> None:
    result = run(state, f"{day} 12:00")
    assert result.verdict is Verdict.DEFER
    detail = result.reasons[0].detail
    assert detail.startswith(f"{state}: no texts on state holidays; {day} is {name}"), detail
    assert result.send_at == local(state, next_open)


def test_no_state_rule_where_the_state_has_none() -> None:
    at = datetime(2026, 3, 4, 1, 15, tzinfo=UTC)  # 20:15 in New York
    result = evaluate(play_send(PLAY, at), ctx_in("NY"), POLICY, at)
    assert result.verdict is Verdict.ALLOW
    assert result.zones is not None
    assert result.zones.rules == ()


def test_the_area_code_state_applies_without_a_mapped_state() -> None:
    at = local("FL", "2026-03-03 20:15")
    result = evaluate(play_send(PLAY, at), ctx_in("FL", region=False), POLICY, at)
    assert result.reasons[0].detail.startswith("FL allows 08:00-20:00")
    assert result.zones is not None
    assert result.zones.states == (("FL", "area_code"),)


def test_a_state_whose_zone_and_number_disagree_holds_both_states() -> None:
    # a Florida area code, mapped state Texas: FL's 20:00 close and TX's 09:00 open both
    # hold, in New York, Chicago and Denver (TX's and FL's zones)
    ctx = ctx_in("TX")
    ctx = replace(ctx, state=replace(ctx.state, phone=PHONES["FL"][0]))
    at = local("TX", "2026-03-03 08:30")
    result = evaluate(play_send(PLAY, at), ctx, POLICY, at)
    assert result.zones is not None
    assert [code for code, _ in result.zones.states] == ["TX", "FL"]
    assert set(result.zones.zones) == {"America/New_York", "America/Chicago", "America/Denver"}
    assert result.send_at == local("TX", "2026-03-03 10:00")  # 09:00 in Denver


def test_an_unknown_state_gets_the_strictest_rules_of_its_zones() -> None:
    contact = ContactState(
        ref=CrmRef("Lead", "00Qtollfree"),
        phone="+18005550123",  # toll-free: no area-code state, no area-code zones
        time_zones=contact_zones("America/Chicago", "+18005550123", "America/New_York"),
        consent=ConsentStatus.OPTED_IN,
    )
    at = local("TX", "2026-03-03 09:30")  # Chicago: 09:30, KY (partly Central) opens at 10
    result = evaluate(play_send(PLAY, at), ContactContext(contact, {"first_name": "A"}), POLICY, at)
    assert result.zones is not None
    assert result.zones.states == ()
    assert {r.split(":")[0] for r in result.zones.rules} >= {"AL", "KY", "LA", "MS", "TX"}
    assert result.send_at == local("TX", "2026-03-03 10:00")
    assert result.reasons[0].detail.startswith("KY allows 10:00-21:00")


def _sent(at: datetime, play: str = PLAY.name) -> SentRecord:
    return SentRecord(at, SendKind.PLAY, play)


def test_three_texts_per_24_hours_on_one_play_in_fl_md_ok() -> None:
    for state in ("FL", "MD", "OK"):
        at = local(state, "2026-03-03 12:00")
        ctx = replace(
            ctx_in(state), sends=tuple(_sent(at - timedelta(hours=h)) for h in (23, 22, 1))
        )
        result = evaluate(play_send(PLAY, at), ctx, POLICY, at)
        assert [r.code for r in result.reasons] == ["state_cap"], state
        assert result.reasons[0].detail.startswith(
            f"{state} allows 3 texts per 24 hours on one subject (the play {PLAY.name})"
        )
        assert evaluate(play_send(OTHER, at), ctx, POLICY, at).verdict is Verdict.ALLOW
        rolled = replace(ctx, sends=tuple(_sent(at - timedelta(hours=h)) for h in (25, 22, 1)))
        assert evaluate(play_send(PLAY, at), rolled, POLICY, at).verdict is Verdict.ALLOW


def test_the_cap_counts_texts_scheduled_later_too() -> None:
    at = local("FL", "2026-03-03 09:00")
    later = tuple(_sent(at + timedelta(hours=h)) for h in (1, 2, 3))
    result = evaluate(play_send(PLAY, at), replace(ctx_in("FL"), sends=later), POLICY, at)
    assert [r.code for r in result.reasons] == ["state_cap"]


def test_no_state_cap_where_the_state_has_none() -> None:
    at = local("TX", "2026-03-03 12:00")
    ctx = replace(ctx_in("TX"), sends=tuple(_sent(at - timedelta(hours=h)) for h in (3, 2, 1)))
    assert evaluate(play_send(PLAY, at), ctx, POLICY, at).verdict is Verdict.ALLOW


def test_the_pack_can_be_off_or_replaced() -> None:
    assert run("FL", "2026-03-03 20:15", rules=NO_PACK).verdict is Verdict.ALLOW
    late_fl = StateRule("FL", (Window(time(10), time(20)),), law="house rule")
    custom = StateRules({**US_PACK.rules, "FL": late_fl})
    result = run("FL", "2026-03-03 09:00", rules=custom)
    assert result.reasons[0].detail.startswith("FL allows 10:00-20:00")


def test_the_first_play_text_carries_the_opt_out_instruction_once() -> None:
    at = local("TX", "2026-03-03 12:00")
    first = evaluate(play_send(PLAY, at), ctx_in("TX"), POLICY, at)
    assert first.body == "Hi Ann Reply STOP to opt out."
    after = replace(ctx_in("TX"), sends=(_sent(at - timedelta(days=3), "other"),))
    assert evaluate(play_send(PLAY, at), after, POLICY, at).body == "Hi Ann"
    queued_later = replace(ctx_in("TX"), sends=(_sent(at + timedelta(days=1), "other"),))
    body = evaluate(play_send(PLAY, at), queued_later, POLICY, at).body
    assert body is not None
    assert body.endswith("opt out.")


def test_the_instruction_is_not_doubled_and_follows_the_language() -> None:
    at = local("TX", "2026-03-03 12:00")
    has_it = replace(PLAY, template=replace(PLAY.template, text="Hi $first_name, text STOP to end"))
    policy = replace(POLICY, plays={PLAY.name: has_it})
    assert evaluate(play_send(has_it, at), ctx_in("TX"), policy, at).body == (
        "Hi Ann, text STOP to end"
    )
    spanish = OptOutInstruction(by_language={"es": "Responde ALTO para no recibir más."})
    policy = replace(POLICY, opt_out_instruction=spanish)
    result = evaluate(play_send(PLAY, at), ctx_in("TX", language="es-MX"), policy, at)
    assert result.body == "Hi Ann Responde ALTO para no recibir más."
    off = replace(POLICY, opt_out_instruction=OptOutInstruction(enabled=False))
    assert evaluate(play_send(PLAY, at), ctx_in("TX"), off, at).body == "Hi Ann"


def test_a_rep_sending_a_play_gets_the_instruction_and_counts_as_a_first_text() -> None:
    at = local("TX", "2026-03-03 12:00")
    by_rep = SendCandidate(SendKind.MANUAL, PLAY)
    assert evaluate(by_rep, ctx_in("TX"), POLICY, at).body == "Hi Ann Reply STOP to opt out."
    own_words = SendCandidate(SendKind.MANUAL, PLAY, body="Call me back?")
    assert evaluate(own_words, ctx_in("TX"), POLICY, at).body == "Call me back?"
    after_rep = replace(ctx_in("TX"), sends=(SentRecord(at - timedelta(hours=2), SendKind.MANUAL),))
    assert evaluate(play_send(PLAY, at), after_rep, POLICY, at).body == "Hi Ann"
