"""The admin's mapping file (one per CRM) as frozen pydantic models.

Every model forbids unknown keys, so a typo is an error rather than a silent default. The
descriptions end up in the JSON Schema (`smsync mappings schema`) that editors use to
complete and check the file as it is typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from connector.config.mapping_types import (
    ACTIVITY_OBJECTS,
    CONTACT_OBJECTS,
    DEFAULT_VOCABULARY,
    REQUIRED_DISPOSITIONS,
    SCOPE_KEY,
    TASK_ENUMS,
    TASK_OBJECTS,
    TEMPLATE_PLACEHOLDERS,
    CrmName,
    Disposition,
    Scope,
    SlaName,
    Template,
    for_crm,
    scope_of,
    task_enum,
)
from connector.config.values import (
    ApiName,
    Regex,
    SnakeName,
    Strict,
    TimeOfDay,
    TimeZoneName,
    Weekday,
    fail,
)

ConsentStatusName = Literal["opted_in", "opted_out", "unknown"]
ConsentSourceName = Literal["keyword", "web_form", "import", "manual", "provider_block", "crm"]
SlaKindName = Literal["first_response", "follow_up"]
IdempotencyMode = Literal["unique_property", "local_map"]


# --- fields ------------------------------------------------------------------------------

_F = {
    "journey_state": "Field holding the SMS journey state (picklist; see "
    "value_maps.journey_state).",
    "active_motion": "Field naming the sales motion (play) the contact is in.",
    "disposition": "Field the latest reply's disposition is written to.",
    "consent_status": "Field holding SMS consent (picklist; see value_maps.consent_status).",
    "consent_timestamp": "Datetime field: when consent last changed.",
    "consent_source": "Field: how consent last changed (see value_maps.consent_source).",
    "sla_due": "Datetime field: when the open reply SLA falls due.",
    "sla_breached": "Checkbox/boolean field set when the SLA is breached.",
    "owner": "Field holding the record owner's user id (Salesforce OwnerId, HubSpot "
    "hubspot_owner_id).",
    "owner_team": "Field naming the owner's team, used for routing.",
    "lifecycle_stage": "Field holding the lifecycle stage (see value_maps.lifecycle_stage).",
    "time_zone": "Field holding the contact's IANA time zone (e.g. America/Chicago); when "
    "empty, the time zone is guessed from the phone's area code.",
    "segments": "Named segment fields, segment name → CRM field (e.g. industry: Industry).",
    "phone_status": "Optional field set to 'invalid' when the provider refuses the number "
    "for good (Twilio 21211, 21614, 30003, 30005, 30006); leave unset if the CRM has none.",
}

Segments = Mapping[SnakeName, ApiName]


class FieldOverrides(Strict):
    """Fields of one object that differ from the default field map."""

    journey_state: ApiName | None = Field(None, description=_F["journey_state"])
    active_motion: ApiName | None = Field(None, description=_F["active_motion"])
    disposition: ApiName | None = Field(None, description=_F["disposition"])
    consent_status: ApiName | None = Field(None, description=_F["consent_status"])
    consent_timestamp: ApiName | None = Field(None, description=_F["consent_timestamp"])
    consent_source: ApiName | None = Field(None, description=_F["consent_source"])
    sla_due: ApiName | None = Field(None, description=_F["sla_due"])
    sla_breached: ApiName | None = Field(None, description=_F["sla_breached"])
    owner: ApiName | None = Field(None, description=_F["owner"])
    owner_team: ApiName | None = Field(None, description=_F["owner_team"])
    lifecycle_stage: ApiName | None = Field(None, description=_F["lifecycle_stage"])
    time_zone: ApiName | None = Field(None, description=_F["time_zone"])
    phone_status: ApiName | None = Field(None, description=_F["phone_status"])
    segments: Segments = Field(default_factory=dict, description=_F["segments"])


class FieldMap(Strict):
    """Canonical field → CRM field, used for every object unless the object overrides it."""

    journey_state: ApiName = Field(description=_F["journey_state"])
    active_motion: ApiName | None = Field(None, description=_F["active_motion"])
    disposition: ApiName = Field(description=_F["disposition"])
    consent_status: ApiName = Field(description=_F["consent_status"])
    consent_timestamp: ApiName | None = Field(None, description=_F["consent_timestamp"])
    consent_source: ApiName | None = Field(None, description=_F["consent_source"])
    sla_due: ApiName | None = Field(None, description=_F["sla_due"])
    sla_breached: ApiName | None = Field(None, description=_F["sla_breached"])
    owner: ApiName = Field(description=_F["owner"])
    owner_team: ApiName | None = Field(None, description=_F["owner_team"])
    lifecycle_stage: ApiName | None = Field(None, description=_F["lifecycle_stage"])
    time_zone: ApiName | None = Field(None, description=_F["time_zone"])
    phone_status: ApiName | None = Field(None, description=_F["phone_status"])
    segments: Segments = Field(default_factory=dict, description=_F["segments"])

    def overridden(self, overrides: FieldOverrides) -> FieldMap:
        """This map with an object's overrides applied (segments merge name by name)."""
        changes: dict[str, Any] = {
            name: value for name, value in overrides if name != "segments" and value is not None
        }
        changes["segments"] = {**self.segments, **overrides.segments}
        return self.model_copy(update=changes)

    def crm_fields(self) -> tuple[str, ...]:
        """Every CRM field this map reads or writes, in a stable order."""
        names = [v for k, v in self if k != "segments" and isinstance(v, str)]
        names.extend(self.segments.values())
        return tuple(dict.fromkeys(names))


class ContactObject(Strict):
    """A CRM object whose records are people smsync texts."""

    name: Annotated[str, AfterValidator(for_crm(CONTACT_OBJECTS, "contact object"))] = Field(
        description="Object API name: Lead or Contact (Salesforce), contacts (HubSpot)."
    )
    phone_fields: tuple[ApiName, ...] = Field(
        min_length=1,
        description="Phone fields in order of preference; the first non-empty one is texted.",
    )
    fields: FieldOverrides = Field(
        default_factory=FieldOverrides,
        description="Fields of this object that differ from the top-level `fields` map.",
    )


def _unique_objects(objects: tuple[ContactObject, ...]) -> tuple[ContactObject, ...]:
    names = [o.name for o in objects]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise fail(f"{', '.join(twice)} listed more than once; list each object once")
    return objects


# --- value maps -----------------------------------------------------------------------------


def _covers(kind: str, needed: tuple[str, ...] | None) -> Any:
    """Writing a canonical value back needs a CRM value for it."""

    def check(values: Mapping[str, str], info: ValidationInfo) -> Mapping[str, str]:
        wanted = needed
        if wanted is None:
            now = scope_of(info)
            wanted = now.vocabulary if now else ()
        missing = [c for c in wanted if c not in values.values()]
        if missing:
            raise fail(
                f"no CRM value maps to {', '.join(missing)}; add a `CrmValue: canonical` entry"
                f" for each, so smsync can write the {kind} back"
            )
        return values

    return AfterValidator(check)


class ValueMaps(Strict):
    """CRM picklist value → canonical value. Several CRM values may map to one canonical
    value; when writing, the first one listed is used."""

    consent_status: Annotated[
        Mapping[str, ConsentStatusName], _covers("consent", ("opted_in", "opted_out"))
    ] = Field(description="Consent picklist values → opted_in, opted_out or unknown.")
    consent_source: Mapping[str, ConsentSourceName] = Field(
        default_factory=dict,
        description="Consent source picklist values → keyword, web_form, import, manual, "
        "provider_block or crm.",
    )
    disposition: Annotated[Mapping[str, Disposition], _covers("disposition", None)] = Field(
        description="Disposition picklist values → names from dispositions.vocabulary."
    )
    journey_state: Mapping[str, SnakeName] = Field(
        default_factory=dict, description="Journey state picklist values → canonical states."
    )
    lifecycle_stage: Mapping[str, SnakeName] = Field(
        default_factory=dict,
        description="Lifecycle stage values (of every object) → canonical stages.",
    )


# --- activities and tasks ---------------------------------------------------------------


class Activity(Strict):
    """Where each text is logged; the external id makes a replayed write an upsert."""

    object: Annotated[str, AfterValidator(for_crm(ACTIVITY_OBJECTS, "activity object"))] = Field(
        description="Task (Salesforce) or communications (HubSpot)."
    )
    external_id_field: ApiName = Field(
        description="Unique external-id field (HubSpot: property) holding sms:<MessageSid>; "
        "e.g. SMS_Message_Id__c or smsync_external_id."
    )


class TaskStatusValues(Strict):
    """The CRM's task status values for an open and a finished task."""

    open: Annotated[str, AfterValidator(task_enum("status"))] = Field(
        description="Status of a new task: Not Started (Salesforce), NOT_STARTED (HubSpot)."
    )
    done: Annotated[str, AfterValidator(task_enum("status"))] = Field(
        description="Status once the SLA is met: Completed (Salesforce), COMPLETED (HubSpot)."
    )


_PLACEHOLDERS = (
    "Placeholders: "
    + ", ".join(f"${name}" for name in TEMPLATE_PLACEHOLDERS)
    + "; write $$ for a literal dollar sign."
)


class TalkTrack(Strict):
    """What to say to a reply of one disposition."""

    disposition: Disposition = Field(description="The disposition this talk track is for.")
    text: Annotated[str, Field(min_length=1)] = Field(
        description="e.g. 'Share the pricing sheet and offer a 15-minute call.'"
    )


class TaskSettings(Strict):
    """The follow-up task created for the owner when a reply needs a human."""

    object: Annotated[str, AfterValidator(for_crm(TASK_OBJECTS, "task object"))] = Field(
        description="Task (Salesforce) or tasks (HubSpot)."
    )
    external_id_field: ApiName = Field(
        description="Unique external-id field (HubSpot: property) holding task:<sid>:<kind>."
    )
    subject: Template = Field(
        description="Subject template, e.g. 'SMS reply: $disposition'. " + _PLACEHOLDERS
    )
    body: Template = Field(
        description="Body template, e.g. '$contact_name wrote: $body'. " + _PLACEHOLDERS
    )
    priority: Annotated[str, AfterValidator(task_enum("priority"))] = Field(
        description="High, Normal or Low (Salesforce); LOW, MEDIUM or HIGH (HubSpot)."
    )
    type: Annotated[str, AfterValidator(task_enum("type"))] = Field(
        description="Call, Email, Meeting or Other (Salesforce); TODO, CALL or EMAIL (HubSpot)."
    )
    status: TaskStatusValues = Field(description="Task status values for open and done.")
    fallback_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User or queue id that gets the task when the contact has no owner.",
    )
    review_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User or queue id that gets the one review task for a reply from an "
        "unknown number or from a number on several records. Default: fallback_owner_id.",
    )
    talk_tracks: tuple[TalkTrack, ...] = Field(
        (),
        description="What the rep should say per disposition, appended to the follow-up "
        "task's body.",
    )

    def talk_track(self, disposition: str) -> str | None:
        return next((t.text for t in self.talk_tracks if t.disposition == disposition), None)


# --- SLA --------------------------------------------------------------------------------


class BusinessHours(Strict):
    """When the SLA clock runs."""

    days: tuple[Weekday, ...] = Field(
        min_length=1, description="Working days, e.g. [mon, tue, wed, thu, fri]."
    )
    start: TimeOfDay = Field(description='Opening time, "HH:MM" in quotes.')
    end: TimeOfDay = Field(description='Closing time, "HH:MM" in quotes; after start.')
    time_zone: TimeZoneName = Field(description="IANA time zone of these hours.")
    holidays: tuple[date, ...] = Field(
        (), description="Local dates the SLA clock does not run, e.g. [2026-12-25]."
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end <= self.start:
            raise fail("end must be after start (hours that cross midnight are not supported)")
        if len(set(self.days)) != len(self.days):
            raise fail("a day is listed twice in days; list each day once")
        return self


class SlaPolicy(Strict):
    """How fast a human must answer, counted in business hours."""

    kind: SlaKindName = Field(description="first_response or follow_up.")
    within_business_hours: float = Field(
        gt=0, le=24 * 7, description="Business hours allowed, e.g. 2 or 0.5."
    )


class SlaSettings(Strict):
    business_hours: BusinessHours = Field(description="When the SLA clock runs.")

    policies: Mapping[SnakeName, SlaPolicy] = Field(
        default_factory=dict,
        description="Named SLA policies that disposition rules refer to by `sla: <name>`.",
    )


# --- routing ---------------------------------------------------------------------------


class TeamSettings(Strict):
    """One sales team: who takes replies when a record's owner cannot, and who hears
    about SLA breaches."""

    name: Annotated[str, Field(min_length=1)] = Field(
        description="The team's name, as the owner_team field holds it."
    )
    members: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (), description="User ids in round-robin order."
    )
    round_robin: bool = Field(
        default=True, description="Rotate tasks of unowned records over the active members."
    )
    fallback_owner_id: str | None = Field(
        None, min_length=1, description="User or queue that takes the team's tasks otherwise."
    )
    lead_id: str | None = Field(
        None, min_length=1, description="User who gets the escalation task on an SLA breach."
    )
    business_hours: BusinessHours | None = Field(
        None,
        description="The team's own SLA hours, when they differ from sla.business_hours "
        "(e.g. a West team on Pacific time).",
    )


class RoutingSettings(Strict):
    """Who owns follow-ups: the record owner while active, else the owner's team."""

    teams: tuple[TeamSettings, ...] = Field((), description="The teams and their rosters.")
    inactive_users: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (),
        description="User ids who no longer take work (left, on leave); their records "
        "route to their team.",
    )
    escalation_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User who gets escalation tasks when the team has no lead.",
    )


# --- dispositions ---------------------------------------------------------------------


class Rule(Strict):
    """Classifies a reply; the first matching rule (in list order) wins."""

    name: Disposition = Field(description="The disposition this rule assigns.")
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (), description="Words or phrases matched case-insensitively on word boundaries."
    )
    regexes: tuple[Regex, ...] = Field(
        (), description="Python regular expressions (single-quote them in YAML)."
    )
    creates_task: bool = Field(default=False, description="Create a follow-up task for the owner.")
    sla: SlaName | None = Field(None, description="Name of an SLA policy to start.")

    @model_validator(mode="after")
    def _matches_something(self) -> Self:
        if not self.keywords and not self.regexes:
            raise fail("a rule needs keywords or regexes (or both)")
        return self


def _vocabulary(names: tuple[str, ...]) -> tuple[str, ...]:
    missing = [n for n in REQUIRED_DISPOSITIONS if n not in names]
    if missing:
        raise fail(
            f"the vocabulary must include {', '.join(missing)} (the built-in compliance"
            " classifier and the fallback use them)"
        )
    if len(set(names)) != len(names):
        raise fail("a disposition is listed twice; list each once")
    return names


class Dispositions(Strict):
    """The disposition vocabulary and the rules that assign it. Compliance keywords (STOP,
    HELP, ...) are built in and checked before these rules."""

    vocabulary: Annotated[tuple[SnakeName, ...], AfterValidator(_vocabulary)] = Field(
        DEFAULT_VOCABULARY, description="Every disposition name smsync may assign."
    )
    rules: tuple[Rule, ...] = Field(
        (), description="Ordered rules; the first match wins, otherwise unclassified."
    )


def _hubspot_only(value: str | None, info: ValidationInfo) -> str | None:
    now = scope_of(info)
    if value is not None and now is not None and now.crm == "salesforce":
        raise fail(
            "idempotency applies to crm: hubspot only (Salesforce upserts by the external-id"
            " field); remove it"
        )
    return value


# --- the file ---------------------------------------------------------------------------


def _crm_branch(crm: str) -> dict[str, Any]:
    enums = TASK_ENUMS[crm]
    then: dict[str, Any] = {
        "properties": {
            "objects": {"items": {"properties": {"name": {"enum": list(CONTACT_OBJECTS[crm])}}}},
            "activity": {"properties": {"object": {"enum": list(ACTIVITY_OBJECTS[crm])}}},
            "tasks": {
                "properties": {
                    "object": {"enum": list(TASK_OBJECTS[crm])},
                    "priority": {"enum": list(enums["priority"])},
                    "type": {"enum": list(enums["type"])},
                    "status": {
                        "properties": {
                            "open": {"enum": list(enums["status"])},
                            "done": {"enum": list(enums["status"])},
                        }
                    },
                }
            },
        }
    }
    if crm == "salesforce":
        then["not"] = {"required": ["idempotency"]}
    return {"if": {"properties": {"crm": {"const": crm}}, "required": ["crm"]}, "then": then}


class MappingConfig(Strict):
    """One CRM's mapping: which records are contacts, where each canonical field lives,
    how picklist values translate, and how replies become activities and tasks."""

    model_config = ConfigDict(
        json_schema_extra={"allOf": [_crm_branch(crm) for crm in CONTACT_OBJECTS]}
    )

    version: Literal[1] = Field(description="Format version of this file; always 1.")
    crm: CrmName = Field(description="salesforce or hubspot; the sections must match it.")
    objects: Annotated[tuple[ContactObject, ...], AfterValidator(_unique_objects)] = Field(
        min_length=1, description="The CRM objects whose records smsync texts."
    )
    fields: FieldMap = Field(description="Default canonical field → CRM field map.")
    value_maps: ValueMaps = Field(description="CRM picklist values → canonical values.")
    activity: Activity = Field(description="Where each text is logged as an activity.")
    idempotency: Annotated[IdempotencyMode | None, AfterValidator(_hubspot_only)] = Field(
        None,
        description="HubSpot only: unique_property (upsert by a unique-value property) or "
        "local_map (remember HubSpot ids locally; for accounts that refuse unique properties "
        "on engagements). Default: unique_property.",
    )
    tasks: TaskSettings = Field(description="Follow-up tasks for owners.")
    sla: SlaSettings | None = Field(None, description="Business hours and SLA policies.")
    dispositions: Dispositions = Field(
        default_factory=Dispositions, description="Disposition vocabulary and rules."
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings,
        description="Teams, rotations and escalation leads for follow-up tasks.",
    )

    @classmethod
    def validation_context(cls, data: Any) -> dict[str, Any] | None:
        """The file's CRM, vocabulary and SLA names, for the single-value checks."""
        return {SCOPE_KEY: Scope.from_raw(data)}

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)

    def contact_object(self, name: str) -> ContactObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(name)

    def field_map(self, object_name: str) -> FieldMap:
        """The effective field map of one object: defaults plus its overrides."""
        return self.fields.overridden(self.contact_object(object_name).fields)

    @property
    def idempotency_mode(self) -> IdempotencyMode | None:
        """HubSpot's mode (default unique_property); None for Salesforce."""
        if self.crm == "hubspot":
            return self.idempotency or "unique_property"
        return None

    def to_canonical(self, kind: str, crm_value: str) -> str | None:
        """A CRM picklist value as its canonical value, or None when unmapped."""
        values: Mapping[str, str] = getattr(self.value_maps, kind)
        return values.get(crm_value)

    def to_crm(self, kind: str, canonical: str) -> str | None:
        """The first CRM value mapped to `canonical`, or None."""
        values: Mapping[str, str] = getattr(self.value_maps, kind)
        return next((crm for crm, value in values.items() if value == canonical), None)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.dispositions.rules if r.name == name), None)

    def sla_policy(self, name: str) -> SlaPolicy | None:
        return self.sla.policies.get(name) if self.sla else None
