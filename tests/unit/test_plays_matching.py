"""Play triggers against signals, and template rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.domain.plays import (
    FieldPredicate,
    Outcome,
    PredicateOp,
    Signal,
    SignalKind,
    Trigger,
    TriggerKind,
    fires_at,
    triggered,
)
from connector.domain.templates import Template, TokenSpec
from tests.unit.governance_kit import make_play

AT = datetime(2025, 6, 10, 16, 0, tzinfo=UTC)


def test_field_changed_from_x_to_y() -> None:
    trigger = Trigger(TriggerKind.FIELD_CHANGED, "lifecycle_stage", "disqualified", "lead")
    hit = Signal(
        SignalKind.FIELD_CHANGED,
        AT,
        {"field": "lifecycle_stage", "old": "disqualified", "new": "lead"},
    )
    assert fires_at(trigger, hit) == AT
    wrong_from = Signal(
        SignalKind.FIELD_CHANGED, AT, {"field": "lifecycle_stage", "old": "new", "new": "lead"}
    )
    assert fires_at(trigger, wrong_from) is None
    other_field = Signal(
        SignalKind.FIELD_CHANGED, AT, {"field": "owner", "old": "disqualified", "new": "lead"}
    )
    assert fires_at(trigger, other_field) is None


def test_stage_entered_and_not_a_repeat() -> None:
    trigger = Trigger(TriggerKind.STAGE_ENTERED, to_value="new")
    assert (
        fires_at(trigger, Signal(SignalKind.STAGE_CHANGED, AT, {"old": None, "new": "new"})) == AT
    )
    assert (
        fires_at(trigger, Signal(SignalKind.STAGE_CHANGED, AT, {"old": "new", "new": "new"}))
        is None
    )
    assert fires_at(trigger, Signal(SignalKind.FORM_SUBMITTED, AT, {"form": "x"})) is None


def test_meeting_booked_and_date_minus_offset() -> None:
    meeting = AT + timedelta(days=2)
    booked = Signal(SignalKind.MEETING_BOOKED, AT, {"field": "meeting_time", "at": meeting})
    assert fires_at(Trigger(TriggerKind.MEETING_BOOKED), booked) == AT
    reminder = Trigger(TriggerKind.DATE_APPROACHING, "meeting_time", before=timedelta(hours=2))
    assert fires_at(reminder, booked) == meeting - timedelta(hours=2)
    renewal = Trigger(TriggerKind.DATE_APPROACHING, "renewal_date", before=timedelta(days=30))
    assert fires_at(renewal, booked) is None


def test_inactive_and_form() -> None:
    assert (
        fires_at(
            Trigger(TriggerKind.INACTIVE, days=14), Signal(SignalKind.INACTIVE, AT, {"days": 20})
        )
        == AT
    )
    assert (
        fires_at(
            Trigger(TriggerKind.INACTIVE, days=14), Signal(SignalKind.INACTIVE, AT, {"days": 3})
        )
        is None
    )
    demo = Trigger(TriggerKind.FORM_SUBMITTED, form="demo")
    assert fires_at(demo, Signal(SignalKind.FORM_SUBMITTED, AT, {"form": "demo"})) == AT
    assert fires_at(demo, Signal(SignalKind.FORM_SUBMITTED, AT, {"form": "ebook"})) is None
    anyform = Trigger(TriggerKind.FORM_SUBMITTED)
    assert fires_at(anyform, Signal(SignalKind.FORM_SUBMITTED, AT, {"form": "ebook"})) == AT


def test_triggered_orders_by_priority() -> None:
    plays = (make_play("low", 10), make_play("high", 90), make_play("mid", 50))
    signal = Signal(SignalKind.STAGE_CHANGED, AT, {"old": "lead", "new": "new"})
    assert [t.play.name for t in triggered(plays, signal)] == ["high", "mid", "low"]


def test_template_render_required_and_fallback() -> None:
    template = Template(
        "Hi ${first_name}, from $company. $$5 off",
        {"first_name": TokenSpec(), "company": TokenSpec(required=False, fallback="us")},
    )
    assert template.render({"first_name": "Ann"}) == ("Hi Ann, from us. $5 off", ())
    assert template.render({"first_name": ""}) == (None, ("first_name",))
    assert template.render({"first_name": "Bo", "company": "Acme"})[0] == "Hi Bo, from Acme. $5 off"


def test_outcome_and_predicates() -> None:
    stage = Outcome(
        condition=FieldPredicate("lifecycle_stage", PredicateOp.IN, ("sql", "opportunity"))
    )
    assert stage.met({"lifecycle_stage": "sql"}, None)
    assert not stage.met({"lifecycle_stage": "lead"}, "interested")
    reply = Outcome(disposition="confirmed")
    assert reply.met({}, "confirmed")
    assert not reply.met({}, None)
    assert FieldPredicate("x", PredicateOp.IS_EMPTY).matches("")
    assert FieldPredicate("x", PredicateOp.NOT_IN, ("a",)).matches(None)


def test_stage_entered_on_another_field_reads_that_fields_change() -> None:
    trigger = Trigger(TriggerKind.STAGE_ENTERED, "deal_stage", to_value="demo")
    hit = Signal(SignalKind.FIELD_CHANGED, AT, {"field": "deal_stage", "old": "new", "new": "demo"})
    assert fires_at(trigger, hit) == AT
    other = Signal(SignalKind.FIELD_CHANGED, AT, {"field": "region", "old": "new", "new": "demo"})
    assert fires_at(trigger, other) is None
    repeat = Signal(
        SignalKind.FIELD_CHANGED, AT, {"field": "deal_stage", "old": "demo", "new": "demo"}
    )
    assert fires_at(trigger, repeat) is None
    # the lifecycle stage's own signal is not a deal_stage change
    assert fires_at(trigger, Signal(SignalKind.STAGE_CHANGED, AT, {"new": "demo"})) is None


def test_a_bare_stage_entered_watches_the_lifecycle_stage_only() -> None:
    trigger = Trigger(TriggerKind.STAGE_ENTERED, "lifecycle_stage", to_value="mql")
    field_signal = Signal(
        SignalKind.FIELD_CHANGED, AT, {"field": "lifecycle_stage", "old": "lead", "new": "mql"}
    )
    assert fires_at(trigger, field_signal) is None  # counted once, as its STAGE_CHANGED
    assert fires_at(trigger, Signal(SignalKind.STAGE_CHANGED, AT, {"new": "mql"})) == AT
