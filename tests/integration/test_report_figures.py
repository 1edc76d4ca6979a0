"""On a dataset with chosen rates, every figure comes out exact (SQLite and Postgres), and
every rate is a share of the same population: the contacts texted in the period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.report.model import POPULATION_TEXTED, POPULATION_TREATED
from connector.report.queries import GroupBy, Scope, build_report
from connector.store import SqlStore
from tests.integration import report_kit as kit


@pytest.fixture
def loaded(store: SqlStore) -> SqlStore:
    with store.begin() as conn:
        kit.build(conn)
    return store


def test_totals_are_exact(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        scope = Scope(kit.SINCE, kit.UNTIL, pipeline=kit.PIPELINE, calendar=lambda _team: kit.HOURS)
        report = build_report(conn, scope, kit.OUTCOMES)
    t = report.total
    assert (t.attempted, t.delivered, t.delivery_rate) == (24, 19, 19 / 24)
    assert (t.contacts, t.reached, t.contact_rate) == (14, 13, 13 / 14)
    # a meeting booked or held after the first text: c0, c1 and a0 by disposition (a1's
    # predates its text), c2 and c3 by their opportunities reaching Discovery after it
    assert (t.replied, t.meetings, t.opted_out) == (5, 5, 1)
    assert (t.reply_rate, t.meeting_rate) == (5 / 14, 5 / 14)
    # c4's STOP after its text counts; c5's CRM opt-out before any text, a stranger's STOP
    # and held-out h1's STOP do not, and the last two are reported apart
    assert t.opt_out_rate == 1 / 14
    assert report.inbound_only_opt_outs == 2
    assert (t.sla_closed, t.sla_met, t.sla_met_rate) == (5, 3, 0.6)
    # first human answers: 60, 120, 600 s (met), c3's 1200 s (met late) and c4's manual
    # send 1800 s after its reply (breached at 900 s, answered after); c5 is unanswered
    assert (t.response_p50_s, t.response_p90_s) == (600, 1800)
    # in business hours: c3's 20 minutes straddle the 15:10 close (10 minutes count) and
    # c4's reply came after it (0)
    assert (t.response_business_p50_s, t.response_business_p90_s) == (120, 600)
    assert t.dispositions == {
        "confirmed": 3,
        "meeting_booked": 1,
        "not_interested": 1,
        "no reply": 9,
    }
    assert t.blocked == {"holdout": 5, "quiet_hours": 2, "caps": 1}
    assert report.groups == []
    hist = dict(report.response_histogram)
    assert hist == {
        "< 1 min": 0,
        "1-5 min": 2,
        "5-15 min": 1,
        "15-60 min": 2,
        "1-4 h": 0,
        "4-24 h": 0,
        "> 24 h": 0,
    }
    trend = [(p.day, p.texted, p.opt_outs) for p in report.opt_out_trend]
    assert trend == [("2024-03-01", 14, 1)]  # contacts by the day of their first text
    assert report.funnel == [
        ("texted", 14),
        ("replied", 5),
        ("meeting", 5),
        ("opportunity", 3),
        ("won", 1),
    ]


def test_pipeline_figures(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        scope = Scope(kit.SINCE, kit.UNTIL, GroupBy.TEAM, pipeline=kit.PIPELINE)
        report = build_report(conn, scope, kit.OUTCOMES)
    t = report.total
    # c0 (O1, won), c1 and c2 (O2, in Proposal); O3 never left Discovery, O4 came before
    # c4's text and O5 40 days after c5's
    assert (t.opportunities, t.opportunity_rate, t.won, t.won_rate) == (3, 3 / 14, 1, 1 / 14)
    assert t.meetings_held == 5  # c0..c3 and a0 reached Discovery
    # O1 and O2 (O2 once, for two contacts): 1000 + 500; won 1 of 1 closed
    assert (t.opps_influenced, t.opps_won, t.opps_closed, t.win_rate) == (2, 1, 1, 1.0)
    assert t.amount_influenced == pytest.approx(1500.0)
    velocity = [
        (v.from_stage, v.to_stage, v.median_days, v.opportunities) for v in report.stage_velocity
    ]
    assert velocity == [
        ("created", "meeting held", 0.0, 4),
        ("meeting held", "opportunity", 4.0, 2),
        ("opportunity", "won", 7.0, 1),
    ]
    teams = {g.key: (g.opportunities, g.meetings_held, g.amount_influenced) for g in report.groups}
    assert teams == {"sdr": (3, 4, 1500.0), "ae": (0, 1, 0.0)}
    speed = {p.play: p for p in report.plays}["speed"]
    assert speed.opportunity_lift is not None
    # treated: c0, c1, c2 of 10; holdout: h0 (O6 reached Proposal before it was lost) of 5
    lift = speed.opportunity_lift
    assert (lift.exposed_converted, lift.exposed, lift.holdout_converted, lift.holdout) == (
        3,
        10,
        1,
        5,
    )
    assert lift.lift == pytest.approx(0.1)


def test_by_team_is_exact(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.TEAM), kit.OUTCOMES)
    groups = {g.key: g for g in report.groups}
    assert set(groups) == {"ae", "sdr"}
    sdr, ae = groups["sdr"], groups["ae"]
    assert (sdr.attempted, sdr.delivered, sdr.contacts, sdr.replied) == (20, 16, 10, 4)
    # without a stage mapping every linked opportunity counts, so c2's and c3's meetings too
    assert (sdr.meetings, sdr.opted_out, sdr.sla_closed, sdr.sla_met) == (4, 1, 5, 3)
    assert sdr.blocked == {"holdout": 5, "quiet_hours": 2, "caps": 1}
    assert sdr.dispositions == {
        "confirmed": 1,
        "meeting_booked": 1,
        "not_interested": 1,
        "no reply": 7,
    }
    assert (ae.attempted, ae.contacts, ae.replied, ae.meetings) == (4, 4, 1, 1)
    assert (ae.sla_closed, ae.response_p50_s, ae.blocked) == (0, None, {})
    assert ae.dispositions == {"confirmed": 2, "no reply": 2}
    assert (ae.delivered, ae.reached, ae.contact_rate) == (3, 3, 0.75)


def test_by_owner_shows_names(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.OWNER), kit.OUTCOMES)
    names = {g.key: (g.name, g.label, g.contacts) for g in report.groups}
    # the owner directory named sdr's owner; ae's is unknown, so its id stands in
    assert names == {"owner-sdr": ("Sam Diaz", "Sam Diaz", 10), "owner-ae": (None, "owner-ae", 4)}


def test_opt_out_window_is_seven_days(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        kit.Builder(conn).opt_out("a2", kit.T0 + timedelta(hours=2, days=7, seconds=60))
        kit.Builder(conn).opt_out("a1", kit.T0 + timedelta(hours=2, days=7))
        report = build_report(conn, Scope(kit.SINCE), kit.OUTCOMES)
    # a1 opted out 7 days to the second after its text (in), a2 a minute later (out, and
    # so an inbound-only STOP); c4 as before
    assert report.total.opted_out == 2
    assert report.inbound_only_opt_outs == 3


def test_by_play_and_segment(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        by_play = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.PLAY), kit.OUTCOMES)
        by_segment = build_report(
            conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.SEGMENT, segment="industry"), kit.OUTCOMES
        )
    plays = {g.key: g for g in by_play.groups}
    assert (plays["speed"].attempted, plays["speed"].delivered) == (20, 16)
    assert (plays["speed"].sla_closed, plays["speed"].response_p90_s) == (5, 1800)
    assert (plays["confirm"].contacts, plays["confirm"].replied) == (4, 1)
    segments = {g.key: (g.attempted, g.contacts, g.replied) for g in by_segment.groups}
    assert segments == {"retail": (14, 9, 5), "health": (10, 5, 0)}


def test_play_outcomes_and_lift(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL), kit.OUTCOMES)
    plays = {p.play: p for p in report.plays}
    speed, confirm = plays["speed"], plays["confirm"]
    assert (speed.contacts, speed.texted, speed.converted, speed.conversion_rate) == (
        10,
        10,
        3,
        0.3,
    )
    assert speed.population == POPULATION_TREATED
    assert (confirm.population, confirm.contacts, confirm.texted) == (POPULATION_TEXTED, 4, 4)
    assert (speed.time_to_outcome_p50_s, speed.time_to_outcome_p90_s) == (3600, 7200)
    assert speed.outcome == "lifecycle_stage equals working"
    assert (confirm.contacts, confirm.converted) == (4, 1)
    assert (confirm.time_to_outcome_p50_s, confirm.time_to_outcome_p90_s) == (1800, 1800)
    lift = speed.lift
    assert (lift.exposed, lift.exposed_converted, lift.holdout, lift.holdout_converted) == (
        10,
        3,
        5,
        1,
    )
    assert lift.lift == pytest.approx(0.3 - 0.2)
    assert lift.too_small
    assert not lift.significant
    assert confirm.lift.lift is None
    assert confirm.reply_lift is None
    # the arms' replies and meetings after their first decision (T0): meetings c0, c1 (by
    # disposition), c2, c3 (their opportunities), and held-out h0 (O6)
    assert speed.reply_lift is not None
    assert speed.meeting_lift is not None
    assert (speed.reply_lift.exposed_converted, speed.reply_lift.holdout_converted) == (4, 0)
    assert (speed.meeting_lift.exposed_converted, speed.meeting_lift.holdout_converted) == (4, 1)
    assert speed.reply_lift.lift == pytest.approx(0.4)


def test_period_bounds_exclude_outside_rows(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        early = build_report(conn, Scope(until=kit.SINCE), kit.OUTCOMES)
    assert (early.total.attempted, early.total.contacts) == (1, 1)
    assert (early.total.sla_closed, early.total.response_p50_s) == (1, 3600)


def test_a_meeting_held_in_the_pipeline_counts_once_after_the_first_text(
    loaded: SqlStore,
) -> None:
    """An opportunity created before the text that enters Discovery after it is a meeting
    held after the text (but no opportunity of the text: it predates it); one that entered
    Discovery before the text is neither."""
    day = timedelta(days=1)
    with loaded.begin() as conn:
        b = kit.Builder(conn)
        b.opportunity("O8", ["a2"], kit.T0 - day, [("Prospecting", 0), ("Discovery", 2)], 50)
        b.opportunity("O9", ["a3"], kit.T0 - 2 * day, [("Discovery", 0), ("Proposal", 1)], 60)
        scope = Scope(kit.SINCE, kit.UNTIL, GroupBy.TEAM, pipeline=kit.PIPELINE)
        report = build_report(conn, scope, kit.OUTCOMES)
    t, ae = report.total, {g.key: g for g in report.groups}["ae"]
    assert (t.meetings, t.opportunities, t.won) == (6, 3, 1)  # + a2
    assert (ae.meetings, ae.opportunities) == (2, 0)  # a0 by disposition, a2 by O8
    steps = [n for _name, n in report.funnel]
    assert steps == [14, 5, 6, 3, 1]


def test_a_reps_text_from_the_crm_is_a_first_response(loaded: SqlStore) -> None:
    """A breached timer answered by a rep's text from the CRM (outbox key `rep:...`)
    counts as answered, like a manual send through smsync."""
    start = kit.T0 + timedelta(hours=9)
    with loaded.begin() as conn:
        b = kit.Builder(conn)
        b.timer("a1", start, breached=start + timedelta(seconds=900))
        b.rep_send("a1", start + timedelta(seconds=3000))
        scope = Scope(kit.SINCE, kit.UNTIL, calendar=lambda _team: kit.HOURS)
        report = build_report(conn, scope, kit.OUTCOMES)
    t = report.total
    assert (t.sla_closed, t.sla_met) == (6, 3)
    # answers 60, 120, 600, 1200, 1800 and the rep's 3000 s: p90 is the 6th of 6
    assert (t.response_p50_s, t.response_p90_s) == (600, 3000)
    assert dict(report.response_histogram)["15-60 min"] == 3
