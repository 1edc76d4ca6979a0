"""Example tests of the chokepoint: one per reason, in the documented order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.domain.caps import FrequencyCaps, SendKind, SentRecord
from connector.domain.governance import SendCandidate, decide, evaluate, evaluate_batch
from connector.domain.model import ConsentStatus, TimeZones, TzSource, Verdict
from connector.domain.plays import FieldPredicate, OutsideWindow, PredicateOp
from connector.domain.policy import (
    ConsentMode,
    ConsentPolicy,
    QuietHours,
    Suppression,
    UnknownZone,
)
from connector.domain.quiet_hours import Window, is_open, next_opening
from tests.unit.governance_kit import (
    ALASKA,
    CRM_CHICAGO,
    NOON_NY,
    make_ctx,
    make_play,
    play_send,
    policy_with,
)

PLAY = make_play()
POLICY = policy_with(PLAY)


def codes(result: object) -> tuple[str, ...]:
    return tuple(r.code for r in getattr(result, "reasons", ()))


def test_a_plain_play_is_allowed_now_with_its_rendered_body() -> None:
    result = evaluate(play_send(PLAY, NOON_NY), make_ctx(), POLICY, NOON_NY)
    assert result.verdict is Verdict.ALLOW
    assert result.send_at == NOON_NY
    assert result.body == "Hi Ann Reply STOP to opt out."  # the first text to the number
    assert result.zones is not None
    assert result.zones.zones == ("America/New_York",)
    assert result.zones.source is TzSource.AREA_CODE
    assert decide(play_send(PLAY, NOON_NY), make_ctx(), POLICY, NOON_NY).reasons == ()


def test_opted_out_blocks_plays_manual_and_help() -> None:
    ctx = make_ctx(consent=ConsentStatus.OPTED_OUT)
    for candidate in (
        play_send(PLAY),
        SendCandidate(SendKind.MANUAL, body="hello"),
        SendCandidate(SendKind.HELP_REPLY, body="help text"),
    ):
        assert decide(candidate, ctx, POLICY, NOON_NY).reasons == ("opted_out",)


def test_the_opt_out_confirmation_goes_exactly_once() -> None:
    opted_at = NOON_NY - timedelta(minutes=1)
    ctx = replace(make_ctx(consent=ConsentStatus.OPTED_OUT), opted_out_at=opted_at)
    confirm = SendCandidate(SendKind.OPT_OUT_CONFIRMATION, body="You're unsubscribed.")
    first = decide(confirm, ctx, POLICY, NOON_NY)
    assert first.verdict is Verdict.ALLOW
    sent = replace(ctx, sends=(SentRecord(NOON_NY, SendKind.OPT_OUT_CONFIRMATION),))
    assert decide(confirm, sent, POLICY, NOON_NY).reasons == ("already_confirmed",)
    # a confirmation of an earlier opt-out does not count against a new one
    old = replace(ctx, sends=(SentRecord(opted_at - timedelta(days=9), confirm.kind),))
    assert decide(confirm, old, POLICY, NOON_NY).verdict is Verdict.ALLOW
    assert decide(confirm, make_ctx(), POLICY, NOON_NY).reasons == ("not_opted_out",)


def test_the_confirmation_goes_within_five_minutes_of_the_opt_out_or_not_at_all() -> None:
    confirm = SendCandidate(SendKind.OPT_OUT_CONFIRMATION, body="You're unsubscribed.")
    for after, verdict in ((timedelta(minutes=5), Verdict.ALLOW), (timedelta(minutes=6), None)):
        ctx = replace(make_ctx(consent=ConsentStatus.OPTED_OUT), opted_out_at=NOON_NY - after)
        found = decide(confirm, ctx, POLICY, NOON_NY)
        if verdict is None:
            assert found.reasons == ("confirmation_late",)
        else:
            assert found.verdict is verdict


def test_confirmation_goes_even_at_night() -> None:
    night = datetime(2025, 6, 10, 6, 0, tzinfo=UTC)  # 02:00 in New York
    ctx = make_ctx(consent=ConsentStatus.OPTED_OUT)
    confirm = SendCandidate(SendKind.OPT_OUT_CONFIRMATION, body="Unsubscribed.")
    assert decide(confirm, ctx, POLICY, night).verdict is Verdict.ALLOW


def test_consent_required_per_region() -> None:
    policy = replace(
        POLICY,
        consent=ConsentPolicy(ConsentMode.OPT_IN_REQUIRED, {"TX": ConsentMode.OPT_OUT_ONLY}),
    )
    unknown = make_ctx(consent=ConsentStatus.UNKNOWN)
    assert decide(play_send(PLAY), unknown, policy, NOON_NY).reasons == ("consent_required",)
    manual = SendCandidate(SendKind.MANUAL, body="hi")
    assert decide(manual, unknown, policy, NOON_NY).reasons == ("consent_required",)
    texan = replace(unknown, state=replace(unknown.state, segments={"region": "TX"}))
    assert decide(play_send(PLAY), texan, policy, NOON_NY).verdict is Verdict.ALLOW
    help_reply = SendCandidate(SendKind.HELP_REPLY, body="help")
    assert decide(help_reply, unknown, policy, NOON_NY).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("phone", "line_type", "reason"),
    [
        (None, None, "invalid_number"),
        ("+1212555", None, "invalid_number"),
        ("+12125550123", "landline", "landline"),
        ("+442071838750", None, "landline"),  # London fixed line by the numbering plan
    ],
)
def test_number_validity(phone: str | None, line_type: str | None, reason: str) -> None:
    ctx = replace(make_ctx(phone=phone), line_type=line_type)
    assert decide(play_send(PLAY), ctx, POLICY, NOON_NY).reasons == (reason,)
    manual = SendCandidate(SendKind.MANUAL, body="hi")
    assert decide(manual, ctx, POLICY, NOON_NY).reasons == (reason,)


def test_missing_required_token_blocks_never_sends_hi_comma() -> None:
    ctx = replace(make_ctx(), values={"first_name": "  "})
    result = evaluate(play_send(PLAY), ctx, POLICY, NOON_NY)
    assert codes(result) == ("missing_data",)
    assert "first_name" in result.reasons[0].detail
    assert result.body is None


def test_meeting_confirmation_at_22_local_defers_to_8_or_drops() -> None:
    ten_pm = datetime(2025, 6, 11, 2, 0, tzinfo=UTC)  # 22:00 EDT on 10 June
    deferred = evaluate(play_send(PLAY, ten_pm), make_ctx(), POLICY, ten_pm)
    assert deferred.verdict is Verdict.DEFER
    assert deferred.send_at == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert codes(deferred) == ("quiet_hours",)
    assert "America/New_York" in deferred.reasons[0].detail
    assert "area_code" in deferred.reasons[0].detail
    drop = make_play(outside=OutsideWindow.DROP)
    dropped = decide(play_send(drop, ten_pm), make_ctx(), policy_with(drop), ten_pm)
    assert dropped.verdict is Verdict.BLOCK
    assert dropped.reasons == ("quiet_hours",)


def test_a_quiet_hours_block_keeps_the_zones_and_their_source() -> None:
    """The decision log records the zone's provenance for drops and holds too."""
    ten_pm = datetime(2025, 6, 11, 2, 0, tzinfo=UTC)  # 22:00 EDT on 10 June
    drop = make_play(outside=OutsideWindow.DROP)
    dropped = evaluate(play_send(drop, ten_pm), make_ctx(), policy_with(drop), ten_pm)
    assert codes(dropped) == ("quiet_hours",)
    assert dropped.zones is not None
    assert dropped.zones.zones == ("America/New_York",)
    assert dropped.zones.source is TzSource.AREA_CODE
    hold = replace(POLICY, quiet_hours=QuietHours(unknown_zone=UnknownZone.HOLD))
    held = evaluate(play_send(PLAY), make_ctx(phone="+80012345678"), hold, NOON_NY)
    assert codes(held) == ("unknown_zone",)
    assert held.zones is not None
    assert held.zones.source is None
    opted_out = evaluate(
        play_send(PLAY), make_ctx(consent=ConsentStatus.OPTED_OUT), POLICY, NOON_NY
    )
    assert opted_out.zones is None  # blocked before any zone was looked at


def test_the_evaluation_carries_its_inputs() -> None:
    ctx = make_ctx(consent=ConsentStatus.UNKNOWN)
    state = replace(ctx.state, segments={"region": "us"})
    earlier = (SentRecord(NOON_NY - timedelta(days=2), SendKind.PLAY, "welcome"),)
    ctx = replace(ctx, state=state, sends=earlier)
    fired = NOON_NY - timedelta(minutes=5)
    result = evaluate(play_send(PLAY, fired), ctx, POLICY, NOON_NY)
    assert result.inputs is not None
    assert result.inputs.kind is SendKind.PLAY
    assert result.inputs.consent is ConsentStatus.UNKNOWN
    assert result.inputs.region == "us"
    assert result.inputs.triggered_at == fired
    assert result.inputs.prior_sends == 1
    manual = evaluate(SendCandidate(SendKind.MANUAL, PLAY, body="Hi"), ctx, POLICY, NOON_NY)
    assert manual.inputs is not None
    assert manual.inputs.kind is SendKind.MANUAL
    assert manual.inputs.triggered_at is None


def test_multi_zone_number_waits_for_every_zone() -> None:
    # 08:30 in Anchorage is 07:30 in Adak: not yet open everywhere
    at = datetime(2025, 6, 10, 16, 30, tzinfo=UTC)
    result = evaluate(play_send(PLAY, at), make_ctx(phone=ALASKA), POLICY, at)
    assert result.verdict is Verdict.DEFER
    assert result.zones is not None
    assert set(result.zones.zones) == {"America/Adak", "America/Anchorage"}
    assert result.send_at == datetime(2025, 6, 10, 17, 0, tzinfo=UTC)  # 08:00 Adak


def test_crm_zone_and_area_code_both_hold_and_dst_is_respected() -> None:
    # 9 March 2025, the US spring-forward day: Chicago is on CDT (UTC-5) by 07:30
    at = datetime(2025, 3, 9, 12, 30, tzinfo=UTC)  # 07:30 CDT in Chicago, 08:30 in New York
    result = evaluate(play_send(PLAY, at), make_ctx(zones=CRM_CHICAGO), POLICY, at)
    assert result.zones is not None
    assert result.zones.source is TzSource.CRM_FIELD
    assert result.zones.zones == ("America/Chicago", "America/New_York")
    assert result.zones.sources_of("America/New_York") == (TzSource.AREA_CODE,)
    assert result.send_at == datetime(2025, 3, 9, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_unknown_zone_uses_the_default_or_holds() -> None:
    nowhere = make_ctx(phone="+80012345678")  # international freephone: no zone at all
    result = evaluate(play_send(PLAY), nowhere, POLICY, NOON_NY)
    assert result.verdict is Verdict.ALLOW
    assert result.zones is not None
    assert result.zones.zones == ("America/New_York",)
    assert result.zones.source is TzSource.DEFAULT
    hold = replace(POLICY, quiet_hours=QuietHours(unknown_zone=UnknownZone.HOLD))
    assert decide(play_send(PLAY), nowhere, hold, NOON_NY).reasons == ("unknown_zone",)


def test_zones_whose_windows_never_meet_block() -> None:
    apart = TimeZones(("America/New_York", "Asia/Tokyo"), TzSource.CRM_FIELD)
    short = replace(POLICY, quiet_hours=QuietHours(default=Window(time(8), time(12))))
    result = evaluate(play_send(PLAY), make_ctx(zones=apart), short, NOON_NY)
    assert codes(result) == ("quiet_hours",)
    assert "no common opening" in result.reasons[0].detail


def test_caps_daily_weekly_and_per_play() -> None:
    earlier = NOON_NY - timedelta(hours=2)
    ctx = replace(make_ctx(), sends=(SentRecord(earlier, SendKind.PLAY, "other"),))
    assert decide(play_send(PLAY), ctx, POLICY, NOON_NY).reasons == ("daily_cap",)
    week = tuple(
        SentRecord(NOON_NY - timedelta(days=d), SendKind.PLAY, "other") for d in (1, 2, 3)
    )  # Tuesday noon: Monday, and last Sunday/Saturday; only Monday is this ISO week
    loose = replace(POLICY, caps=FrequencyCaps(per_day=5, per_week=1))
    assert decide(play_send(PLAY), replace(ctx, sends=week), loose, NOON_NY).reasons == (
        "weekly_cap",
    )
    capped = make_play(caps=FrequencyCaps(per_week=1))
    mine = replace(ctx, sends=(SentRecord(NOON_NY - timedelta(days=1), SendKind.PLAY, PLAY.name),))
    roomy = replace(policy_with(capped), caps=FrequencyCaps(per_day=5, per_week=5))
    assert decide(play_send(capped), mine, roomy, NOON_NY).reasons == ("play_cap",)
    manual_sends = replace(ctx, sends=(SentRecord(earlier, SendKind.MANUAL),))
    assert decide(play_send(PLAY), manual_sends, POLICY, NOON_NY).verdict is Verdict.ALLOW


def test_play_cooldown() -> None:
    play = make_play(cooldown=timedelta(days=7))
    ctx = replace(
        make_ctx(), sends=(SentRecord(NOON_NY - timedelta(days=10), SendKind.PLAY, play.name),)
    )
    policy = policy_with(play)
    assert decide(play_send(play), ctx, policy, NOON_NY).verdict is Verdict.ALLOW
    recent = replace(
        ctx, sends=(SentRecord(NOON_NY - timedelta(days=8, hours=-2), SendKind.PLAY, play.name),)
    )
    assert (
        decide(play_send(play), recent, replace(policy, caps=FrequencyCaps()), NOON_NY).verdict
        is Verdict.ALLOW
    )
    close = replace(ctx, sends=(SentRecord(NOON_NY - timedelta(days=6), SendKind.PLAY, play.name),))
    roomy = replace(policy, caps=FrequencyCaps())
    assert decide(play_send(play), close, roomy, NOON_NY).reasons == ("play_cooldown",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"last_inbound_at": NOON_NY - timedelta(hours=3)}, "active_conversation"),
        ({"open_task": True}, "open_task"),
        ({"last_rep_activity_at": NOON_NY - timedelta(hours=5)}, "rep_engaged"),
        ({"not_now_at": NOON_NY - timedelta(days=2)}, "cooldown"),
    ],
)
def test_suppression(change: dict[str, object], reason: str) -> None:
    ctx = replace(make_ctx(), **change)  # type: ignore[arg-type]
    assert decide(play_send(PLAY), ctx, POLICY, NOON_NY).reasons == (reason,)
    manual = SendCandidate(SendKind.MANUAL, body="hi")
    assert decide(manual, ctx, POLICY, NOON_NY).verdict is Verdict.ALLOW


def test_old_activity_does_not_suppress() -> None:
    ctx = replace(
        make_ctx(),
        last_inbound_at=NOON_NY - timedelta(days=3),
        last_rep_activity_at=NOON_NY - timedelta(days=3),
        not_now_at=NOON_NY - timedelta(days=31),
    )
    assert decide(play_send(PLAY), ctx, POLICY, NOON_NY).verdict is Verdict.ALLOW


def test_higher_priority_play_in_motion_suppresses_lower_only() -> None:
    high = make_play("renewal", priority=90)
    low = make_play("nudge", priority=10)
    policy = policy_with(high, low)
    ctx = make_ctx()
    ctx = replace(ctx, state=replace(ctx.state, active_motion="renewal"))
    result = evaluate(play_send(low), ctx, policy, NOON_NY)
    assert codes(result) == ("higher_priority_play",)
    assert "renewal" in result.reasons[0].detail
    assert decide(play_send(high), ctx, policy, NOON_NY).verdict is Verdict.ALLOW


def test_segment_exclusion_as_field_predicate() -> None:
    rule = FieldPredicate("lifecycle_stage", PredicateOp.IN, ("customer", "new"))
    policy = replace(POLICY, suppression=Suppression(exclusions=(rule,)))
    result = evaluate(play_send(PLAY), make_ctx(), policy, NOON_NY)
    assert codes(result) == ("segment_excluded",)
    assert result.reasons[0].detail == "lifecycle_stage in customer, new"


def test_holdout_blocks_and_records_the_assignment() -> None:
    everyone = make_play(holdout=100.0)
    result = evaluate(play_send(everyone), make_ctx(), policy_with(everyone), NOON_NY)
    assert codes(result) == ("holdout",)
    assert result.holdout is not None
    assert result.holdout.held_out
    nobody = evaluate(play_send(PLAY), make_ctx(), POLICY, NOON_NY)
    assert nobody.holdout is not None
    assert not nobody.holdout.held_out


def test_delay_defers_and_expiry_drops() -> None:
    play = make_play(delay=timedelta(minutes=5), expires=timedelta(hours=1))
    policy = policy_with(play)
    result = evaluate(play_send(play, NOON_NY), make_ctx(), policy, NOON_NY)
    assert result.verdict is Verdict.DEFER
    assert result.send_at == NOON_NY + timedelta(minutes=5)
    assert codes(result) == ("delay",)
    late = decide(play_send(play, NOON_NY - timedelta(hours=2)), make_ctx(), policy, NOON_NY)
    assert late.reasons == ("expired",)
    ten_pm = datetime(2025, 6, 11, 2, 0, tzinfo=UTC)
    overnight = decide(play_send(play, ten_pm), make_ctx(), policy, ten_pm)
    assert overnight.reasons == ("expired",)  # next opening is past the hour's expiry


def test_business_hours_only_waits_for_monday() -> None:
    play = make_play(business_hours_only=True)
    saturday = datetime(2025, 6, 14, 16, 0, tzinfo=UTC)
    result = evaluate(play_send(play), make_ctx(), policy_with(play), saturday)
    assert result.verdict is Verdict.DEFER
    assert result.send_at == datetime(2025, 6, 16, 13, 0, tzinfo=UTC)  # Mon 09:00 EDT


def test_manual_send_at_night_is_deferred_not_dropped() -> None:
    night = datetime(2025, 6, 10, 6, 0, tzinfo=UTC)
    manual = SendCandidate(SendKind.MANUAL, body="Following up on our call")
    result = evaluate(manual, make_ctx(), POLICY, night)
    assert result.verdict is Verdict.DEFER
    assert result.send_at == datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    assert result.body == "Following up on our call"


def test_batch_keeps_the_highest_priority_within_caps() -> None:
    low, mid, high = make_play("low", 10), make_play("mid", 50), make_play("high", 90)
    policy = policy_with(low, mid, high)
    results = evaluate_batch(
        [play_send(low), play_send(high), play_send(mid)], make_ctx(), policy, NOON_NY
    )
    assert [r.verdict for r in results] == [Verdict.BLOCK, Verdict.ALLOW, Verdict.BLOCK]
    assert codes(results[0]) == ("daily_cap",)


def test_a_play_candidate_needs_its_play() -> None:
    with pytest.raises(ValueError, match="needs its play"):
        evaluate(SendCandidate(SendKind.PLAY), make_ctx(), POLICY, NOON_NY)


def test_a_higher_priority_play_takes_the_place_of_a_queued_lower_one_when_planning() -> None:
    low, high = make_play("low", 10), make_play("high", 90)
    policy = policy_with(low, high)
    later_today = NOON_NY + timedelta(hours=3)
    queued = SentRecord(later_today, SendKind.PLAY, "low", queued_id=7)
    ctx = replace(make_ctx(), sends=(queued,))

    planned = evaluate(play_send(high), ctx, policy, NOON_NY, preempt=True)
    assert planned.verdict is Verdict.ALLOW
    assert planned.displaces == 7
    assert codes(planned) == ("preempts",)
    # the send-time re-check never displaces: there the cap simply holds
    assert codes(evaluate(play_send(high), ctx, policy, NOON_NY)) == ("daily_cap",)


SENT_TODAY = SentRecord(NOON_NY - timedelta(hours=1), SendKind.PLAY, "low")


@pytest.mark.parametrize(
    "others",
    [
        (SENT_TODAY,),  # already sent: it cannot be taken back
        (SentRecord(NOON_NY + timedelta(hours=1), SendKind.PLAY, "peer", queued_id=3),),
        # the day is full with a sent text; tomorrow's queued one is in another bucket
        (SENT_TODAY, SentRecord(NOON_NY + timedelta(days=1), SendKind.PLAY, "low", queued_id=4)),
    ],
)
def test_only_a_queued_lower_priority_text_in_the_full_bucket_gives_way(
    others: tuple[SentRecord, ...],
) -> None:
    low, peer, high = make_play("low", 10), make_play("peer", 90), make_play("high", 90)
    policy = replace(policy_with(low, peer, high), caps=FrequencyCaps(per_day=1))
    ctx = replace(make_ctx(), sends=others)
    result = evaluate(play_send(high), ctx, policy, NOON_NY, preempt=True)
    assert result.verdict is Verdict.BLOCK
    assert result.displaces is None
    assert codes(result) == ("daily_cap",)


def test_the_lowest_priority_latest_queued_text_is_the_one_withdrawn() -> None:
    plays = [make_play("p10", 10), make_play("p20", 20), make_play("high", 90)]
    policy = replace(policy_with(*plays), caps=FrequencyCaps(per_day=3))
    sends = (
        SentRecord(NOON_NY + timedelta(hours=1), SendKind.PLAY, "p10", queued_id=1),
        SentRecord(NOON_NY + timedelta(hours=2), SendKind.PLAY, "p10", queued_id=2),
        SentRecord(NOON_NY + timedelta(hours=3), SendKind.PLAY, "p20", queued_id=3),
    )
    result = evaluate(
        play_send(plays[2]), replace(make_ctx(), sends=sends), policy, NOON_NY, preempt=True
    )
    assert result.displaces == 2


def test_a_window_wholly_inside_the_spring_forward_gap_is_closed_that_day() -> None:
    """Found by hypothesis: 02:00-02:01 does not exist on 1 April 2001 in New York (clocks
    went from 02:00 EST to 03:00 EDT); the opening must not be 03:00 EDT that day."""
    new_york = ZoneInfo("America/New_York")
    window = Window(time(2, 0), time(2, 1), frozenset({0, 1, 2, 3, 6}))
    found = next_opening(datetime(2001, 3, 29, 7, 1, tzinfo=UTC), [(new_york, window)])
    assert found is not None
    assert is_open(found, new_york, window)
    assert found.astimezone(new_york) == datetime(2001, 4, 2, 2, 0, tzinfo=new_york)


def test_a_text_over_the_providers_limit_is_blocked_before_the_provider() -> None:
    """Twilio refuses more than 1,600 characters (21617) after the text was allowed;
    the chokepoint refuses it first, for a person's text and a play's rendered one."""
    long_body = "x" * 1601
    manual = evaluate(SendCandidate(SendKind.MANUAL, body=long_body), make_ctx(), POLICY, NOON_NY)
    assert manual.verdict is Verdict.BLOCK
    assert codes(manual) == ("body_too_long",)
    assert "1,601 characters; the limit is 1,600" in manual.reasons[0].detail
    wordy = replace(make_ctx(), values={"first_name": "A" * 1600})  # "Hi " + 1,600
    assert codes(evaluate(play_send(PLAY), wordy, POLICY, NOON_NY)) == ("body_too_long",)
    at_limit = SendCandidate(SendKind.MANUAL, body="y" * 1600)
    assert evaluate(at_limit, make_ctx(), POLICY, NOON_NY).verdict is Verdict.ALLOW
