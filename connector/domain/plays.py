"""Plays (motions): what CRM signal starts a text, when it may go, what it says, and what
outcome measures it. Plain records, built by `connector.config.plays_to_domain` from the
admin's YAML; `fires_at` matches a play's trigger against a signal.

Signals here are a small kind + details record so the pull stage's own signal type can be
adapted to it without this module importing it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum, unique
from typing import TYPE_CHECKING

from connector.domain.caps import FrequencyCaps
from connector.domain.links import LinkSpec
from connector.domain.templates import Template

if TYPE_CHECKING:
    from connector.domain.variants import Variant


@unique
class TriggerKind(StrEnum):
    FIELD_CHANGED = "field_changed"  # a canonical field went from X (any) to Y (any)
    STAGE_ENTERED = "stage_entered"  # a stage field (lifecycle stage by default) became X
    MEETING_BOOKED = "meeting_booked"  # a meeting was booked: fires at once
    DATE_APPROACHING = "date_approaching"  # a date field minus an offset (meeting, renewal)
    INACTIVE = "inactive"  # no activity for N days
    FORM_SUBMITTED = "form_submitted"  # a web form (optionally a named one) was submitted
    LINK_CLICKED = "link_clicked"  # a person clicked a tracked link (optionally a named one)


@unique
class SignalKind(StrEnum):
    """The pull stage's signals, as far as plays care."""

    FIELD_CHANGED = "field_changed"  # details: field, old, new
    STAGE_CHANGED = "stage_changed"  # details: old, new
    MEETING_BOOKED = "meeting_booked"  # details: field (date field name), at (datetime)
    DATE_SET = "date_set"  # details: field, at (datetime), before_s (int, optional)
    INACTIVE = "inactive"  # details: days (int)
    FORM_SUBMITTED = "form_submitted"  # details: form
    LINK_CLICKED = "link_clicked"  # details: link, play (the play whose text carried it)


LIFECYCLE_STAGE = "lifecycle_stage"  # the field a bare `stage_entered: X` watches

SignalValue = str | int | datetime | None


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    at: datetime
    details: Mapping[str, SignalValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: TriggerKind
    field: str | None = None  # FIELD_CHANGED, DATE_APPROACHING
    from_value: str | None = None  # FIELD_CHANGED; None is any
    to_value: str | None = None  # FIELD_CHANGED; None is any; STAGE_ENTERED: the stage
    before: timedelta = timedelta(0)  # DATE_APPROACHING
    days: int = 0  # INACTIVE
    form: str | None = None  # FORM_SUBMITTED; None is any form; LINK_CLICKED: the link


@unique
class OutsideWindow(StrEnum):
    DEFER = "defer"  # wait for the next opening
    DROP = "drop"  # do not send at all


@dataclass(frozen=True, slots=True)
class Timing:
    delay: timedelta = timedelta(0)
    business_hours_only: bool = False
    expires_after: timedelta | None = None  # counted from the trigger; past it, dropped
    outside_window: OutsideWindow = OutsideWindow.DEFER


@unique
class PredicateOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    IS_SET = "is_set"
    IS_EMPTY = "is_empty"


@dataclass(frozen=True, slots=True)
class FieldPredicate:
    """A test on one canonical field (or segment) value, e.g. lifecycle_stage in [customer]."""

    field: str
    op: PredicateOp
    values: tuple[str, ...] = ()

    def matches(self, value: str | None) -> bool:
        present = value is not None and value != ""
        match self.op:
            case PredicateOp.IS_SET:
                return present
            case PredicateOp.IS_EMPTY:
                return not present
            case PredicateOp.EQUALS | PredicateOp.IN:
                return present and value in self.values
            case PredicateOp.NOT_EQUALS | PredicateOp.NOT_IN:
                return not (present and value in self.values)

    def __str__(self) -> str:
        if self.op in (PredicateOp.IS_SET, PredicateOp.IS_EMPTY):
            return f"{self.field} {self.op.value}"
        return f"{self.field} {self.op.value} {', '.join(self.values)}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The one measurable result of a play: a field condition, or a reply disposition."""

    condition: FieldPredicate | None = None
    disposition: str | None = None

    def met(self, fields: Mapping[str, str | None], disposition: str | None) -> bool:
        if self.condition is not None:
            return self.condition.matches(fields.get(self.condition.field))
        return disposition is not None and disposition == self.disposition


@dataclass(frozen=True, slots=True)
class Play:
    name: str
    owner_team: str
    priority: int  # higher wins a cap or a conflict
    outcome: Outcome
    trigger: Trigger
    timing: Timing
    template: Template
    cooldown: timedelta = timedelta(0)  # no repeat of this play to a contact within it
    holdout_percent: float = 0.0
    caps: FrequencyCaps | None = None  # per-play caps, on top of the policy's
    exclusions: tuple[FieldPredicate, ...] = ()  # matching contacts are never sent this play
    purpose: str = "marketing"  # consent is checked for it (domain.purposes)
    on_drop: str | None = None  # "task": a dropped text becomes the owner's call-instead task
    # experiment arms (domain.variants); the holdout stays outside them
    variants: tuple[Variant, ...] = ()
    language: str = "en"  # the language of `template`, the fallback
    translations: Mapping[str, Template] = field(default_factory=dict)  # "es" -> template
    links: Mapping[str, LinkSpec] = field(default_factory=dict)  # tracked links, by name


def _text(value: SignalValue) -> str | None:
    return None if value is None else str(value)


def _field_changed(trigger: Trigger, signal: Signal) -> datetime | None:
    details = signal.details
    old, new = _text(details.get("old")), _text(details.get("new"))
    if details.get("field") != trigger.field or old == new:
        return None
    if trigger.from_value is not None and old != trigger.from_value:
        return None
    if trigger.to_value is not None and new != trigger.to_value:
        return None
    return signal.at


def _stage_entered(trigger: Trigger, signal: Signal) -> datetime | None:
    """The lifecycle stage moves as a STAGE_CHANGED signal; any other stage field (a
    segment, the journey) as that field's FIELD_CHANGED."""
    lifecycle = trigger.field in (None, LIFECYCLE_STAGE)
    if lifecycle != (signal.kind is SignalKind.STAGE_CHANGED):
        return None
    if not lifecycle and signal.details.get("field") != trigger.field:
        return None
    old, new = _text(signal.details.get("old")), _text(signal.details.get("new"))
    return signal.at if new == trigger.to_value and old != new else None


def _meeting_booked(_trigger: Trigger, signal: Signal) -> datetime | None:
    return signal.at


def _date_approaching(trigger: Trigger, signal: Signal) -> datetime | None:
    when = signal.details.get("at")
    if signal.details.get("field") != trigger.field or not isinstance(when, datetime):
        return None
    offset = signal.details.get("before_s")  # a timed sweep names the offset that came due
    if isinstance(offset, int) and offset != int(trigger.before.total_seconds()):
        return None
    return when - trigger.before


def _inactive(trigger: Trigger, signal: Signal) -> datetime | None:
    days = signal.details.get("days")
    return signal.at if isinstance(days, int) and days >= trigger.days else None


def _form_submitted(trigger: Trigger, signal: Signal) -> datetime | None:
    form = signal.details.get("form")
    return signal.at if trigger.form is None or form == trigger.form else None


def _link_clicked(trigger: Trigger, signal: Signal) -> datetime | None:
    link = signal.details.get("link")
    return signal.at if trigger.form is None or link == trigger.form else None


_MATCHERS: dict[
    TriggerKind, tuple[frozenset[SignalKind], Callable[[Trigger, Signal], datetime | None]]
] = {
    TriggerKind.FIELD_CHANGED: (frozenset({SignalKind.FIELD_CHANGED}), _field_changed),
    TriggerKind.STAGE_ENTERED: (
        frozenset({SignalKind.STAGE_CHANGED, SignalKind.FIELD_CHANGED}),
        _stage_entered,
    ),
    TriggerKind.MEETING_BOOKED: (frozenset({SignalKind.MEETING_BOOKED}), _meeting_booked),
    TriggerKind.DATE_APPROACHING: (
        frozenset({SignalKind.DATE_SET, SignalKind.MEETING_BOOKED}),
        _date_approaching,
    ),
    TriggerKind.INACTIVE: (frozenset({SignalKind.INACTIVE}), _inactive),
    TriggerKind.FORM_SUBMITTED: (frozenset({SignalKind.FORM_SUBMITTED}), _form_submitted),
    TriggerKind.LINK_CLICKED: (frozenset({SignalKind.LINK_CLICKED}), _link_clicked),
}


def fires_at(trigger: Trigger, signal: Signal) -> datetime | None:
    """When the trigger wants its text to go for this signal (before the play's delay),
    or None when the signal does not match."""
    kinds, matcher = _MATCHERS[trigger.kind]
    return matcher(trigger, signal) if signal.kind in kinds else None


@dataclass(frozen=True, slots=True)
class Triggered:
    """A play matched by a signal, and when its trigger fired."""

    play: Play
    fired_at: datetime


def triggered(plays: Mapping[str, Play] | tuple[Play, ...], signal: Signal) -> list[Triggered]:
    """Every play the signal starts, highest priority first (name breaks ties)."""
    pool = plays.values() if isinstance(plays, Mapping) else plays
    hits = [Triggered(p, t) for p in pool if (t := fires_at(p.trigger, signal)) is not None]
    return sorted(hits, key=lambda h: (-h.play.priority, h.play.name))
