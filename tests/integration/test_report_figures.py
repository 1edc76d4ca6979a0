"""Acceptance 1: on a dataset with chosen rates, every figure comes out exact."""

from __future__ import annotations

import pytest

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
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL), kit.OUTCOMES)
    t = report.total
    assert (t.attempted, t.delivered, t.contact_rate) == (24, 20, 20 / 24)
    assert (t.contacts, t.replied, t.meetings, t.opted_out) == (14, 5, 3, 1)
    assert t.reply_rate == 5 / 14
    assert t.opt_out_rate == 1 / 14
    assert (t.sla_closed, t.sla_met, t.sla_met_rate) == (5, 3, 0.6)
    assert (t.response_p50_s, t.response_p90_s) == (120, 1200)
    assert t.dispositions == {
        "confirmed": 2,
        "meeting_booked": 1,
        "not_interested": 1,
        "(none)": 10,
    }
    assert t.blocked == {"holdout": 5, "quiet_hours": 2, "caps": 1}
    assert report.groups == []
    hist = dict(report.response_histogram)
    assert hist == {
        "< 1 min": 0,
        "1-5 min": 2,
        "5-15 min": 1,
        "15-60 min": 1,
        "1-4 h": 0,
        "4-24 h": 0,
        "> 24 h": 0,
    }
    trend = [(p.day, p.sent, p.opt_outs) for p in report.opt_out_trend]
    assert trend == [("2024-03-01", 14, 1), ("2024-03-02", 10, 0)]


def test_by_team_is_exact(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.TEAM), kit.OUTCOMES)
    groups = {g.key: g for g in report.groups}
    assert set(groups) == {"ae", "sdr"}
    sdr, ae = groups["sdr"], groups["ae"]
    assert (sdr.attempted, sdr.delivered, sdr.contacts, sdr.replied) == (20, 16, 10, 4)
    assert (sdr.meetings, sdr.opted_out, sdr.sla_closed, sdr.sla_met) == (2, 1, 5, 3)
    assert sdr.blocked == {"holdout": 5, "quiet_hours": 2, "caps": 1}
    assert sdr.dispositions == {
        "confirmed": 1,
        "meeting_booked": 1,
        "not_interested": 1,
        "(none)": 7,
    }
    assert (ae.attempted, ae.delivered, ae.contacts, ae.replied, ae.meetings) == (4, 4, 4, 1, 1)
    assert (ae.sla_closed, ae.response_p50_s, ae.blocked) == (0, None, {})
    assert ae.dispositions == {"confirmed": 1, "(none)": 3}


def test_by_play_and_segment(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        by_play = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.PLAY), kit.OUTCOMES)
        by_segment = build_report(
            conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.SEGMENT, segment="industry"), kit.OUTCOMES
        )
    plays = {g.key: g for g in by_play.groups}
    assert (plays["speed"].attempted, plays["speed"].delivered) == (20, 16)
    assert (plays["speed"].sla_closed, plays["speed"].response_p90_s) == (5, 1200)
    assert (plays["confirm"].contacts, plays["confirm"].replied) == (4, 1)
    segments = {g.key: (g.attempted, g.contacts, g.replied) for g in by_segment.groups}
    assert segments == {"retail": (14, 9, 5), "health": (10, 5, 0)}


def test_play_outcomes_and_lift(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL), kit.OUTCOMES)
    plays = {p.play: p for p in report.plays}
    speed, confirm = plays["speed"], plays["confirm"]
    assert (speed.contacts, speed.converted, speed.conversion_rate) == (10, 3, 0.3)
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


def test_period_bounds_exclude_outside_rows(loaded: SqlStore) -> None:
    with loaded.begin() as conn:
        early = build_report(conn, Scope(until=kit.SINCE), kit.OUTCOMES)
    assert (early.total.attempted, early.total.contacts) == (1, 1)
    assert (early.total.sla_closed, early.total.response_p50_s) == (1, 3600)
