"""The admin's plays file: the governance policy and the plays, as frozen pydantic models.

Every model forbids unknown keys, so a typo is an error rather than a silent default.
Token-level template checks need the file's text and the mapping, so `plays_loader` does
them; everything else is checked here, located at the offending key or value."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from connector.config.keywords_schema import LanguageCode
from connector.config.plays_policy import CapsSpec, PolicySpec, PredicateOpName, PredicateSpec
from connector.config.values import Duration, SnakeName, Strict, fail


class OutcomeSpec(Strict):
    """The play's one measurable outcome: a field condition or a reply disposition."""

    field: SnakeName | None = Field(None, description="Canonical field tested.")
    op: PredicateOpName = Field("equals", description="How the field is tested.")
    values: tuple[str, ...] = Field((), description="Values the field is tested against.")
    disposition: SnakeName | None = Field(None, description="A reply disposition, e.g. confirmed.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.field is None) == (self.disposition is None):
            raise fail("an outcome is either a field condition or a disposition; give one")
        if self.disposition is not None and self.values:
            raise fail("values apply to a field condition, not to a disposition")
        if self.field is not None:
            PredicateSpec(field=self.field, op=self.op, values=self.values)
        return self


class FieldChangeSpec(Strict):
    field: SnakeName = Field(description="Canonical field watched.")
    from_: str | None = Field(None, alias="from", description="Old value; omit for any.")
    to: str | None = Field(None, description="New value; omit for any.")


class StageSpec(Strict):
    """A stage entered on a field other than the lifecycle stage (a segment such as
    `deal_stage`, or `journey_state`): fires once when the field takes `stage`."""

    field: SnakeName = Field(description="Mapped field or segment holding a stage.")
    stage: str = Field(min_length=1, description="The stage value entered.")


class DateOffsetSpec(Strict):
    field: SnakeName = Field(description="Date field, e.g. meeting_time or renewal_date.")
    before: Duration = Field(description="How long before that date the play fires, e.g. 1h.")


class FormSpec(Strict):
    form: str | None = Field(None, min_length=1, description="Form name; omit for any form.")


class LinkClickedSpec(Strict):
    link: SnakeName | None = Field(None, description="A declared link's name; omit for any.")


_TRIGGERS = (
    "field_changed",
    "stage_entered",
    "meeting_booked",
    "date_approaching",
    "inactive_days",
    "form_submitted",
    "link_clicked",
)


class TriggerSpec(Strict):
    """Exactly one of these CRM signals starts the play."""

    field_changed: FieldChangeSpec | None = Field(None, description="A field went from X to Y.")
    stage_entered: SnakeName | StageSpec | None = Field(
        None, description="A stage entered: the lifecycle stage's, or {field, stage} on any field."
    )
    meeting_booked: Literal[True] | None = Field(None, description="true: a meeting was booked.")
    date_approaching: DateOffsetSpec | None = Field(None, description="A date minus an offset.")
    inactive_days: int | None = Field(None, ge=1, description="No activity for this many days.")
    form_submitted: FormSpec | None = Field(None, description="A web form was submitted.")
    link_clicked: LinkClickedSpec | None = Field(
        None, description="A person clicked a tracked link (bots and previewers never count)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in _TRIGGERS if getattr(self, name) is not None]
        if len(given) != 1:
            raise fail(
                f"a trigger needs exactly one of {', '.join(_TRIGGERS)}"
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self


class TimingSpec(Strict):
    delay: Duration = Field(timedelta(0), description="Wait this long after the trigger.")
    business_hours_only: bool = Field(default=False, description="Send only within business_hours.")
    expires_after: Duration | None = Field(
        None, description="Drop the send this long after the trigger if not yet sent."
    )
    outside_window: Literal["defer", "drop"] = Field(
        "defer", description="Outside quiet hours: defer to the next opening, or drop."
    )

    @model_validator(mode="after")
    def _expiry_after_delay(self) -> Self:
        if self.expires_after is not None and self.expires_after <= self.delay:
            raise fail("expires_after must be longer than delay, or nothing could ever send")
        return self


class TokenSpecModel(Strict):
    required: bool = Field(default=True, description="No value blocks the send (missing_data).")
    fallback: str = Field("", description="Text used when an optional token has no value.")

    @model_validator(mode="after")
    def _fallback_optional(self) -> Self:
        if self.required and self.fallback:
            raise fail("a fallback only applies to an optional token; set required: false")
        return self


class TemplateSpec(Strict):
    text: str = Field(min_length=1, description="Text with $token or ${token} placeholders.")
    tokens: Mapping[SnakeName, TokenSpecModel] = Field(
        default_factory=dict, description="Every token the text uses, required or not."
    )


class VariantTimingSpec(Strict):
    """What a variant changes of the play's timing; omitted keys keep the play's."""

    delay: Duration | None = Field(None, description="Wait this long after the trigger.")
    business_hours_only: bool | None = Field(None, description="Send only in business_hours.")
    outside_window: Literal["defer", "drop"] | None = Field(
        None, description="Outside quiet hours: defer to the next opening, or drop."
    )


class VariantSpec(Strict):
    """One arm of the play's experiment: its weight and what it sends differently."""

    name: SnakeName = Field(description="Variant name, shown by explain and the report.")
    weight: float = Field(ge=0, description="Share of the treated contacts (relative).")
    template: TemplateSpec | None = Field(
        None, description="Its text in the play's fallback language; omitted: the play's."
    )
    translations: Mapping[LanguageCode, TemplateSpec] = Field(
        default_factory=dict, description="Its text in each of the play's other languages."
    )
    timing: VariantTimingSpec | None = Field(None, description="Delay and timing window.")
    cooldown: Duration | None = Field(None, description="Cadence: no repeat within this.")

    @model_validator(mode="after")
    def _translations_need_template(self) -> Self:
        if self.translations and self.template is None:
            raise fail(
                f"variant {self.name} has translations but no template; give its text in"
                " the play's fallback language under template"
            )
        return self


def _variant_weights(variants: tuple[VariantSpec, ...]) -> tuple[VariantSpec, ...]:
    names = [v.name for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise fail(f"variant {', '.join(twice)} defined more than once; names must be unique")
    if variants and sum(v.weight for v in variants) <= 0:
        raise fail("the variants' weights are all 0, so no contact could get one; give one > 0")
    return variants


class LinkSpecModel(Strict):
    """A tracked link: `${link:NAME}` in the template (or the URL written out plainly)
    becomes a short per-message URL on the sidecar that redirects here."""

    url: str = Field(
        min_length=1, pattern=r"^https?://[^\s/$.?#][^\s]*$", description="Destination URL."
    )
    utm: Mapping[str, str] = Field(
        default_factory=dict,
        description="Query parameters added to the destination, e.g. utm_source: sms.",
    )
    high_intent: bool = Field(
        default=False, description="true: a click also gives the owner a follow-up task."
    )
    talk_track: str | None = Field(
        None, min_length=1, description="What the click's task suggests the owner say."
    )


class PlaySpec(Strict):
    name: SnakeName = Field(description="Play name, lower_snake_case; also the motion name.")
    owner_team: str = Field(min_length=1, description="Team accountable for the play.")
    purpose: SnakeName = Field(
        "marketing",
        description="marketing, informational, transactional or one of policy.purposes;"
        " consent is checked for it. Omitted: marketing, the strictest.",
    )
    priority: int = Field(ge=0, le=1000, description="Higher wins caps and conflicts.")
    outcome: OutcomeSpec = Field(description="The one measurable outcome.")
    trigger: TriggerSpec = Field(description="The CRM signal that starts it.")
    timing: TimingSpec = Field(default_factory=TimingSpec, description="Delay, hours, expiry.")
    template: TemplateSpec = Field(description="The text and its tokens.")
    language: LanguageCode = Field(
        "en", description="The language of template: the fallback for any other language."
    )
    translations: Mapping[LanguageCode, TemplateSpec] = Field(
        default_factory=dict,
        description="The template in other languages, chosen by the contact's language segment.",
    )
    variants: Annotated[tuple[VariantSpec, ...], AfterValidator(_variant_weights)] = Field(
        (),
        description="Experiment arms: each treated contact gets one, by weight, for good"
        " (a stable hash of the contact and the play); the holdout stays outside them.",
    )
    cooldown: Duration = Field(timedelta(0), description="No repeat to a contact within this.")
    holdout_percent: float = Field(
        0.0, ge=0, le=100, description="Share of contacts held out, for measurement."
    )
    caps: CapsSpec | None = Field(None, description="Caps for this play alone.")
    exclusions: tuple[PredicateSpec, ...] = Field(
        (), description="Contacts matching any of these never get this play."
    )
    on_drop: Literal["task"] | None = Field(
        None,
        description="task: when quiet hours, expiry or missing consent drop the text, the"
        " owner gets one task to call instead, with the reason (for high-priority plays).",
    )
    links: Mapping[SnakeName, LinkSpecModel] = Field(
        default_factory=dict, description="Tracked links the templates may name, by name."
    )


def _unique_names(plays: tuple[PlaySpec, ...]) -> tuple[PlaySpec, ...]:
    names = [p.name for p in plays]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise fail(f"play {', '.join(twice)} defined more than once; names must be unique")
    return plays


class PlaysConfig(Strict):
    """Governance policy and plays: every outbound text is checked against these."""

    version: Literal[1] = Field(description="Format version of this file; always 1.")
    policy: PolicySpec = Field(default_factory=PolicySpec, description="The governance rules.")
    plays: Annotated[tuple[PlaySpec, ...], AfterValidator(_unique_names)] = Field(
        min_length=1, description="The plays (motions)."
    )

    def play(self, name: str) -> PlaySpec | None:
        return next((p for p in self.plays if p.name == name), None)
