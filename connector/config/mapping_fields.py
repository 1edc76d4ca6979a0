"""Where each canonical field lives on the CRM's contact objects (a default map plus each
object's overrides) and how picklist values translate to canonical ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo

from connector.config.mapping_types import CONTACT_OBJECTS, Disposition, for_crm, scope_of
from connector.config.values import ApiName, SnakeName, Strict, fail

ConsentStatusName = Literal["opted_in", "opted_out", "unknown"]
ConsentSourceName = Literal["keyword", "web_form", "import", "manual", "provider_block", "crm"]


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
    "sms_thread": "Optional long-text field showing the record's latest texts, both "
    "directions (how many: activity.thread_messages); rewritten after every text.",
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
    sms_thread: ApiName | None = Field(None, description=_F["sms_thread"])
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
    sms_thread: ApiName | None = Field(None, description=_F["sms_thread"])
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


ContactObjects = Annotated[tuple[ContactObject, ...], AfterValidator(_unique_objects)]


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
