"""Signals for the plays come from changes between two states of one record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.model import ConsentStatus, ContactState, CrmRef
from connector.domain.signals import Signal, SignalKind, became_inactive, changes

REF = CrmRef("Lead", "00Q1")
AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BEFORE = ContactState(
    REF,
    "+14155550123",
    owner_id="u1",
    owner_team="sales",
    lifecycle_stage="lead",
    journey_state="nurture",
    consent=ConsentStatus.OPTED_IN,
    modstamp=AT - timedelta(days=1),
)


def kinds(signals: tuple[Signal, ...]) -> list[SignalKind]:
    return [s.kind for s in signals]


def test_no_change_no_signal() -> None:
    assert changes(BEFORE, replace(BEFORE, modstamp=AT)) == ()
    # an empty segment and a missing one are the same
    assert changes(replace(BEFORE, segments={"webinar_status": ""}), BEFORE) == ()


def test_any_other_field_or_segment_change_is_a_field_changed_signal_by_name() -> None:
    before = replace(BEFORE, segments={"webinar_status": "Registered", "industry": "Retail"})
    after = replace(
        before,
        disposition="interested",
        segments={"webinar_status": "Attended", "industry": "Retail", "language": "es"},
        modstamp=AT,
    )
    assert changes(before, after) == (
        Signal(
            SignalKind.FIELD_CHANGED,
            REF,
            {"from": None, "to": "interested", "field": "disposition"},
            AT,
        ),
        Signal(SignalKind.FIELD_CHANGED, REF, {"from": None, "to": "es", "field": "language"}, AT),
        Signal(
            SignalKind.FIELD_CHANGED,
            REF,
            {"from": "Registered", "to": "Attended", "field": "webinar_status"},
            AT,
        ),
    )


def test_each_change_is_a_signal_with_both_sides_in_fixed_order() -> None:
    after = replace(
        BEFORE,
        lifecycle_stage="mql",
        journey_state="meeting_booked",
        owner_id="u2",
        owner_team="west",
        consent=ConsentStatus.OPTED_OUT,
        modstamp=AT,
    )
    assert changes(BEFORE, after) == (
        Signal(SignalKind.STAGE_CHANGED, REF, {"from": "lead", "to": "mql"}, AT),
        Signal(SignalKind.JOURNEY_CHANGED, REF, {"from": "nurture", "to": "meeting_booked"}, AT),
        Signal(SignalKind.MEETING_BOOKED, REF, {"from": "nurture"}, AT),
        Signal(SignalKind.OWNER_CHANGED, REF, {"from": "u1", "to": "u2", "team": "west"}, AT),
        Signal(SignalKind.CONSENT_CHANGED, REF, {"from": "opted_in", "to": "opted_out"}, AT),
        Signal(
            SignalKind.FIELD_CHANGED,
            REF,
            {"from": "sales", "to": "west", "field": "owner_team"},
            AT,
        ),
    )


def test_meeting_booked_fires_on_arrival_only_and_honours_the_mapped_value() -> None:
    booked = replace(BEFORE, journey_state="meeting_booked")
    assert SignalKind.MEETING_BOOKED not in kinds(changes(booked, replace(booked, owner_id="u3")))
    custom = replace(BEFORE, journey_state="demo_set")
    assert SignalKind.MEETING_BOOKED in kinds(changes(BEFORE, custom, meeting_booked="demo_set"))
    assert SignalKind.MEETING_BOOKED not in kinds(changes(BEFORE, custom))


def test_a_new_record_is_silent_unless_asked() -> None:
    assert changes(None, BEFORE) == ()
    first = changes(None, BEFORE, new_record_signals=True)
    assert kinds(first) == [
        SignalKind.STAGE_CHANGED,
        SignalKind.JOURNEY_CHANGED,
        SignalKind.OWNER_CHANGED,
        SignalKind.CONSENT_CHANGED,
        SignalKind.FIELD_CHANGED,  # owner_team, from empty
    ]
    assert first[0].details == {"from": None, "to": "lead"}


def test_a_deleted_record_emits_nothing_and_refs_must_match() -> None:
    assert changes(BEFORE, replace(BEFORE, lifecycle_stage="x", deleted=True)) == ()
    with pytest.raises(ValueError, match="two records"):
        changes(BEFORE, replace(BEFORE, ref=CrmRef("Contact", "0031")))


optional = st.none() | st.sampled_from(["a", "b", "meeting_booked"])
states = st.builds(
    ContactState,
    st.just(REF),
    st.just("+14155550123"),
    owner_id=optional,
    lifecycle_stage=optional,
    journey_state=optional,
    consent=st.sampled_from(list(ConsentStatus)),
)


@settings(max_examples=300, deadline=None)
@given(states, states)
def test_a_signal_exactly_for_each_changed_field(old: ContactState, new: ContactState) -> None:
    found = changes(old, new)
    expected = {
        SignalKind.STAGE_CHANGED: old.lifecycle_stage != new.lifecycle_stage,
        SignalKind.JOURNEY_CHANGED: old.journey_state != new.journey_state,
        SignalKind.MEETING_BOOKED: new.journey_state == "meeting_booked"
        and old.journey_state != "meeting_booked",
        SignalKind.OWNER_CHANGED: old.owner_id != new.owner_id,
        SignalKind.CONSENT_CHANGED: old.consent != new.consent,
    }
    assert sorted(kinds(found)) == sorted(k for k, on in expected.items() if on)
    assert changes(new, new) == ()


# --- inactivity -----------------------------------------------------------------------


def test_inactive_fires_once_when_the_mark_is_crossed() -> None:
    last = AT - timedelta(days=10)
    mark = last + timedelta(days=7)
    signal = became_inactive(REF, last, days=7, now=AT, last_checked=AT - timedelta(days=4))
    assert signal == Signal(
        SignalKind.INACTIVE, REF, {"days": 7, "last_activity": last.isoformat()}, mark
    )
    # The next sweep, after the mark was already seen, stays silent.
    assert became_inactive(REF, last, days=7, now=AT + timedelta(hours=1), last_checked=AT) is None
    # Not yet quiet long enough.
    assert became_inactive(REF, last, days=14, now=AT, last_checked=None) is None


def test_inactive_on_a_first_run_and_without_activity() -> None:
    last = AT - timedelta(days=30)
    assert became_inactive(REF, last, days=7, now=AT, last_checked=None) is not None
    assert became_inactive(REF, None, days=7, now=AT, last_checked=None) is None
    with pytest.raises(ValueError, match="at least 1"):
        became_inactive(REF, last, days=0, now=AT, last_checked=None)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 60 * 24),
    st.integers(1, 20),
    st.lists(st.integers(1, 48), min_size=1, max_size=40),
)
def test_inactive_fires_at_most_once_however_often_the_sweep_runs(
    quiet_hours: int, days: int, gaps: list[int]
) -> None:
    last = AT - timedelta(hours=quiet_hours)
    checked: datetime | None = None
    now = AT
    fired = 0
    for gap in gaps:
        if became_inactive(REF, last, days=days, now=now, last_checked=checked):
            fired += 1
        checked, now = now, now + timedelta(hours=gap)
    assert checked is not None  # the last sweep's time
    crossed = last + timedelta(days=days) <= checked
    assert fired == (1 if crossed else 0)
