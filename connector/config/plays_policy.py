"""The plays file's `policy`: consent by region, quiet hours, caps, suppression, state
rules, keywords and the opt-out instruction, as frozen pydantic models."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from connector.config.keywords_schema import KeywordsSpec
from connector.config.values import (
    ALL_WEEKDAYS,
    Duration,
    SnakeName,
    Strict,
    TimeOfDay,
    TimeZoneName,
    Weekday,
    fail,
)
from connector.domain.disclosure import says_how_to_opt_out
from connector.domain.purposes import BUILTIN_PURPOSES, DEFAULT_ATTRIBUTION_WINDOW
from connector.domain.zones import all_states, is_state

ConsentModeName = Literal["opt_in_required", "opt_out_only"]
PredicateOpName = Literal["equals", "not_equals", "in", "not_in", "is_set", "is_empty"]


class WindowSpec(Strict):
    """A daily span of local time, [start, end); it may not cross midnight."""

    start: TimeOfDay = Field(description='Opening time, "HH:MM" in quotes.')
    end: TimeOfDay = Field(description='Closing time, "HH:MM" in quotes; after start.')
    days: tuple[Weekday, ...] = Field(
        ALL_WEEKDAYS, min_length=1, description="Days it applies to; default every day."
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end <= self.start:
            raise fail(
                f"end {self.end:%H:%M} must be after start {self.start:%H:%M}"
                " (windows that cross midnight are not supported)"
            )
        if len(set(self.days)) != len(self.days):
            raise fail("a day is listed twice in days; list each day once")
        return self


def _window(start: int, end: int, days: tuple[Weekday, ...] = ALL_WEEKDAYS) -> WindowSpec:
    return WindowSpec.model_validate({"start": f"{start}:00", "end": f"{end}:00", "days": days})


class ConsentSpec(Strict):
    default: ConsentModeName = Field(
        "opt_in_required", description="opt_in_required or opt_out_only, where no region rule."
    )
    regions: Mapping[str, ConsentModeName] = Field(
        default_factory=dict, description="Region (policy.region_segment value) → mode."
    )


class QuietHoursSpec(Strict):
    """When texts may go, in the recipient's local time (TCPA: 08:00 to 21:00)."""

    default: WindowSpec = Field(
        default_factory=lambda: _window(8, 21), description="Window for every recipient."
    )
    regions: Mapping[str, WindowSpec] = Field(
        default_factory=dict, description="Stricter windows per region, e.g. FL: 08:00-20:00."
    )
    zones: Mapping[TimeZoneName, WindowSpec] = Field(
        default_factory=dict, description="Windows per IANA zone; beat region windows."
    )
    unknown_zone: Literal["default", "hold"] = Field(
        "default", description="With no zone known: use default_zone, or hold the send."
    )
    default_zone: TimeZoneName | None = Field(
        "America/New_York", description="Zone assumed when none is known (unknown_zone: default)."
    )

    @model_validator(mode="after")
    def _zone_for_default(self) -> Self:
        if self.unknown_zone == "default" and self.default_zone is None:
            raise fail("unknown_zone: default needs a default_zone; set one or use hold")
        return self


class CapsSpec(Strict):
    per_day: int | None = Field(None, ge=0, description="Texts per local day; none: no cap.")
    per_week: int | None = Field(None, ge=0, description="Texts per local ISO week.")


class PredicateSpec(Strict):
    """A test on one canonical field or segment, e.g. {field: lifecycle_stage, op: in,
    values: [customer]}."""

    field: SnakeName = Field(description="Canonical field or segment name.")
    op: PredicateOpName = Field(
        "equals", description="equals, not_equals, in, not_in, is_set or is_empty."
    )
    values: tuple[str, ...] = Field((), description="Values compared with.")

    @model_validator(mode="after")
    def _values_fit(self) -> Self:
        if self.op in ("is_set", "is_empty") and self.values:
            raise fail(f"op {self.op} takes no values; remove values")
        if self.op in ("equals", "not_equals") and len(self.values) != 1:
            raise fail(f"op {self.op} takes exactly one value; use op: in for several")
        if self.op in ("in", "not_in") and not self.values:
            raise fail(f"op {self.op} needs at least one value")
        return self


class SuppressionSpec(Strict):
    active_conversation: Duration = Field(
        timedelta(hours=24), description="An inbound text within this pauses automated plays."
    )
    rep_engaged: Duration = Field(
        timedelta(hours=48), description="Rep activity (last-activity field) within this."
    )
    not_now_cooldown: Duration = Field(
        timedelta(days=30), description="No plays for this long after a not_now reply."
    )
    exclusions: tuple[PredicateSpec, ...] = Field(
        (), description="Contacts matching any of these never get automated plays."
    )


def _state(value: str) -> str:
    if not is_state(value):
        hint = [s for s in all_states() if s.casefold() == value.casefold()]
        fix = f"write {hint[0]!r} (capitals)" if hint else "use a two-letter code like FL or TX"
        raise fail(f"{value!r} is not a US state or territory code; {fix}")
    return value


StateCode = Annotated[str, AfterValidator(_state), WithJsonSchema({"type": "string"})]


def _cap_count(value: int) -> int:
    if value < 0:
        raise fail(f"texts is {value}; a cap counts texts: use 0 or more (0 forbids every one)")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise fail("use a positive duration like 24h")
    return value


class SubjectCapSpec(Strict):
    """A state's cap per subject (a play), in a rolling window: 3 per 24h in FL, MD, OK."""

    texts: Annotated[int, AfterValidator(_cap_count)] = Field(
        description="Texts allowed on one subject in the window; 0 or more."
    )
    per: Annotated[Duration, AfterValidator(_positive)] = Field(
        timedelta(hours=24), description="The rolling window, e.g. 24h."
    )


class StateRuleSpec(Strict):
    """One state's rule; it replaces the pack's rule for that state, whole."""

    hours: tuple[WindowSpec, ...] = Field(
        min_length=1, description="Allowed local spans, one per weekday at most; others closed."
    )
    holidays: bool = Field(
        default=False, description="No texts on the state's public holidays (holidays package)."
    )
    subject_cap: SubjectCapSpec | None = Field(None, description="Texts per subject (play).")
    law: str = Field("", description="The statute, shown in explain.")

    @model_validator(mode="after")
    def _one_span_a_day(self) -> Self:
        seen: set[str] = set()
        for window in self.hours:
            twice = sorted(set(window.days) & seen, key=ALL_WEEKDAYS.index)
            if twice:
                raise fail(f"{', '.join(twice)} is in two hours entries; give each day one span")
            seen.update(window.days)
        return self


class StateRulesSpec(Strict):
    """US state telemarketing rules (quiet hours, holidays, caps per subject)."""

    pack: Literal["us", "none"] = Field(
        "us", description="The shipped US state rules pack (us), or none."
    )
    states: Mapping[StateCode, StateRuleSpec] = Field(
        default_factory=dict, description="Add a state's rule or replace the pack's, by code."
    )


class OptOutInstructionSpec(Strict):
    """The instruction a play's first text to a number carries, unless it has one."""

    text: str = Field(
        "Reply STOP to opt out.", min_length=1, description="Appended to a first text."
    )
    languages: Mapping[str, str] = Field(
        default_factory=dict, description='By the `language` segment: es: "Responde ALTO..."'
    )
    enabled: bool = Field(default=True, description="false: never append it.")

    @model_validator(mode="after")
    def _says_how(self) -> Self:
        for text in (self.text, *self.languages.values()):
            if not says_how_to_opt_out(text):
                raise fail(
                    f"{text!r} does not say how to opt out; name the keyword in capitals,"
                    " e.g. 'Reply STOP to opt out.'"
                )
        bad = [k for k in self.languages if not re.fullmatch(r"[a-z]{2}", k)]
        if bad:
            raise fail(f"language {bad[0]!r}: use a two-letter code in lower case, like es")
        return self


def _purposes(names: tuple[str, ...]) -> tuple[str, ...]:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise fail(f"purpose {', '.join(twice)} is listed twice; list each purpose once")
    builtin = [n for n in names if n in BUILTIN_PURPOSES]
    if builtin:
        raise fail(
            f"{', '.join(builtin)} is built in; list only your own purposes here"
            f" (built in: {', '.join(BUILTIN_PURPOSES)})"
        )
    return names


class PolicySpec(Strict):
    purposes: Annotated[tuple[SnakeName, ...], AfterValidator(_purposes)] = Field(
        (),
        description="Your own purposes, beside marketing, informational and transactional.",
    )
    revocation_scope: Literal["all", "purpose"] = Field(
        "all",
        description="all: any opt-out revokes every purpose; purpose: a reply to a play's"
        " text revokes that play's purpose (carrier STOP keywords still revoke all).",
    )
    attribution_window: Annotated[Duration, AfterValidator(_positive)] = Field(
        DEFAULT_ATTRIBUTION_WINDOW,
        description="An opt-out this soon after a play's text is a reply to that play.",
    )
    consent: ConsentSpec = Field(default_factory=ConsentSpec, description="Consent by region.")
    quiet_hours: QuietHoursSpec = Field(
        default_factory=QuietHoursSpec, description="Sending windows in local time."
    )
    business_hours: WindowSpec = Field(
        default_factory=lambda: _window(9, 17, ALL_WEEKDAYS[:5]),
        description="Recipient-local hours for plays with business_hours_only.",
    )
    caps: CapsSpec = Field(
        default_factory=lambda: CapsSpec(per_day=1, per_week=3),
        description="Automated texts per contact across all plays.",
    )
    suppression: SuppressionSpec = Field(
        default_factory=SuppressionSpec, description="When automated plays hold back."
    )
    region_segment: SnakeName = Field(
        "region", description="Segment whose value names the contact's region (e.g. a state)."
    )
    keywords: KeywordsSpec = Field(
        default_factory=KeywordsSpec, description="HELP and STOP: who answers, texts, words."
    )
    state_rules: StateRulesSpec = Field(
        default_factory=StateRulesSpec, description="US state rules; the shipped pack is on."
    )
    opt_out_instruction: OptOutInstructionSpec = Field(
        default_factory=OptOutInstructionSpec, description="Added to a play's first text."
    )
