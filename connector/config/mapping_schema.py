"""The admin's mapping file (one per CRM) as frozen pydantic models.

Every model forbids unknown keys, so a typo is an error rather than a silent default. The
descriptions end up in the JSON Schema (`smsync mappings schema`) that editors use to
complete and check the file as it is typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo

from connector.config.mapping_dispositions import Dispositions, Rule
from connector.config.mapping_fields import ContactObject, ContactObjects, FieldMap, ValueMaps
from connector.config.mapping_pipeline import Pipeline
from connector.config.mapping_rep_send import RepSend
from connector.config.mapping_routing import RoutingSettings, SlaPolicy, SlaSettings
from connector.config.mapping_tasks import Activity, JourneyMoves, TaskSettings
from connector.config.mapping_types import (
    ACTIVITY_OBJECTS,
    CONTACT_OBJECTS,
    SCOPE_KEY,
    TASK_ENUMS,
    TASK_OBJECTS,
    CrmName,
    Scope,
    scope_of,
)
from connector.config.values import Strict, fail

IdempotencyMode = Literal["unique_property", "local_map"]


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
            "rep_send": {"properties": {"object": {"enum": list(TASK_OBJECTS[crm])}}},
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
    objects: ContactObjects = Field(
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
    journey: JourneyMoves = Field(
        default_factory=JourneyMoves,
        description="Where the journey-state field moves on a reply or an opt-out.",
    )
    sla: SlaSettings | None = Field(None, description="Business hours and SLA policies.")
    dispositions: Dispositions = Field(
        default_factory=Dispositions, description="Disposition vocabulary and rules."
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings,
        description="Teams, rotations and escalation leads for follow-up tasks.",
    )
    pipeline: Pipeline | None = Field(
        None, description="Opportunities (deals), their contacts and stages, for the report."
    )
    rep_send: RepSend | None = Field(
        None, description="How a rep texts back from the CRM (a task of the mapped kind)."
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

    def maps(self, object_name: str, canonical: str) -> bool:
        """Whether the object (one of `objects`) has a CRM field for this canonical field."""
        try:
            field_map = self.field_map(object_name)
        except KeyError:
            return False
        return getattr(field_map, canonical, None) is not None

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
