"""The pull's signals as the plays read them, and the outbox keys the planner writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connector.config import load_plays, to_policy
from connector.domain.caps import SendKind
from connector.domain.model import ContactState, CrmRef
from connector.domain.signals import Signal, SignalKind, changes
from connector.engine.outbox_keys import fired_at, kind_of, manual_key, play_key
from connector.engine.plan import PlaysPlanner, play_signals

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
REF = CrmRef("Contact", "003A")


def _planner() -> PlaysPlanner:
    return PlaysPlanner(to_policy(load_plays(ROOT / "mappings" / "plays.yaml")))


def test_a_stage_change_enters_the_stage_and_changes_the_field() -> None:
    before = ContactState(REF, "+12125550123", lifecycle_stage="disqualified", modstamp=AT)
    after = ContactState(REF, "+12125550123", lifecycle_stage="lead", modstamp=AT)
    [signal] = changes(before, after)
    adapted = play_signals(signal, after, AT)
    kinds = [s.kind.value for s in adapted]
    assert kinds == ["field_changed", "stage_changed"]
    assert adapted[0].details == {"field": "lifecycle_stage", "old": "disqualified", "new": "lead"}
    # reactivation listens for exactly that field change
    [candidate] = _planner().candidates(after, [signal], AT)
    assert candidate.play is not None
    assert candidate.play.name == "reactivation"
    assert candidate.triggered_at == AT


def test_a_marketing_qualified_lead_triggers_speed_to_lead_once() -> None:
    state = ContactState(REF, "+12125550123", lifecycle_stage="mql", modstamp=AT)
    signal = Signal(SignalKind.STAGE_CHANGED, REF, {"from": "lead", "to": "mql"}, AT)
    found = _planner().candidates(state, [signal, signal], AT)
    assert [c.play.name for c in found if c.play] == ["speed_to_lead"]


def test_a_meeting_booked_carries_the_meeting_time_for_date_triggers() -> None:
    starts = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    state = ContactState(
        REF,
        "+12125550123",
        journey_state="meeting_booked",
        segments={"meeting_time": starts.isoformat()},
    )
    signal = Signal(SignalKind.MEETING_BOOKED, REF, {"from": "engaged"}, AT)
    found = {
        c.play.name: c.triggered_at for c in _planner().candidates(state, [signal], AT) if c.play
    }
    assert found["meeting_confirmation"] == AT
    assert found["no_show_prevention"] == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 2h before


def test_a_signal_without_time_fires_now() -> None:
    signal = Signal(SignalKind.INACTIVE, REF, {"days": 20}, None)
    [adapted] = play_signals(signal, ContactState(REF, None), AT)
    assert adapted.at == AT
    assert adapted.details == {"days": 20}


def test_keys_say_their_kind_and_keep_the_trigger_time() -> None:
    key = play_key("speed_to_lead", REF, AT)
    assert key == "play:speed_to_lead:Contact/003A:2026-03-03T15:00:00+00:00"
    assert kind_of(key) is SendKind.PLAY
    assert fired_at(key) == AT
    manual = manual_key("speed_to_lead", REF, "req-1")
    assert kind_of(manual) is SendKind.MANUAL
    assert fired_at(manual) is None
    assert kind_of("opt_out_confirmation:SM1") is SendKind.OPT_OUT_CONFIRMATION
    assert kind_of("help:SM1") is SendKind.HELP_REPLY
    assert kind_of("whatever:1") is SendKind.MANUAL  # unknown producers get the strict set
