"""Canonical records ⇄ HubSpot properties, driven by the admin's mapping file.

Reading: a contact's properties become a `ContactState` (phone as E.164 from the mapped
phone properties in order, picklists through the value maps, the time zone with where it
came from). Writing: a `CrmWrite`'s canonical keys become property values for a contact
update, an SMS communication or a task."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector.config import FieldMap, MappingConfig
from connector.domain.model import (
    ConsentStatus,
    ContactState,
    CrmRef,
    CrmWrite,
    TimeZones,
)
from connector.domain.phones import try_e164
from connector.domain.zones import POSTAL_SEGMENT, REGION_SEGMENT, contact_zones

CONTACTS = "contacts"
MODIFIED = "lastmodifieddate"  # contacts; other objects use hs_lastmodifieddate
DEFAULT_ZONE = "America/Chicago"

# canonical keys whose values go through value_maps when written
_VALUE_MAPPED = (
    "consent_status",
    "consent_source",
    "disposition",
    "journey_state",
    "lifecycle_stage",
)
_PRIORITY = {"high": "HIGH", "normal": "MEDIUM", "low": "LOW"}


def parse_stamp(raw: str | None) -> datetime | None:
    """HubSpot datetimes: ISO 8601 (with Z) or epoch milliseconds."""
    if not raw:
        return None
    text = raw.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    """The form HubSpot writes back: UTC, milliseconds, Z."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


class ContactMapper:
    """One contact object's field map, plus the activity and task settings."""

    def __init__(self, mapping: MappingConfig, object_name: str = CONTACTS) -> None:
        self.mapping = mapping
        self.object_name = object_name
        self.fields: FieldMap = mapping.field_map(object_name)
        self.phone_fields = mapping.contact_object(object_name).phone_fields
        self.default_zone = (
            mapping.sla.business_hours.time_zone if mapping.sla is not None else DEFAULT_ZONE
        )

    # reading ---------------------------------------------------------------------------

    def properties(self) -> list[str]:
        """Every property a pull asks for."""
        names = [*self.phone_fields, *self.fields.crm_fields(), MODIFIED, "hs_object_id"]
        return list(dict.fromkeys(names))

    def _get(self, props: Mapping[str, Any], canonical: str) -> str | None:
        name = getattr(self.fields, canonical, None)
        if not name:
            return None
        value = props.get(name)
        return str(value) if value not in (None, "") else None

    def _mapped(self, props: Mapping[str, Any], canonical: str) -> str | None:
        raw = self._get(props, canonical)
        if raw is None:
            return None
        return self.mapping.to_canonical(canonical, raw)

    def phone(self, props: Mapping[str, Any]) -> str | None:
        for name in self.phone_fields:
            e164 = try_e164(props.get(name))
            if e164 is not None:
                return e164
        return None

    def segments(self, props: Mapping[str, Any]) -> dict[str, str]:
        return {
            name: str(props[prop])
            for name, prop in self.fields.segments.items()
            if props.get(prop) not in (None, "")
        }

    def time_zones(self, props: Mapping[str, Any], phone: str | None) -> TimeZones:
        segments = self.segments(props)
        return contact_zones(
            self._get(props, "time_zone"),
            phone,
            self.default_zone,
            region=segments.get(REGION_SEGMENT),
            postal_code=segments.get(POSTAL_SEGMENT),
        )

    def to_state(self, record_id: str, props: Mapping[str, Any]) -> ContactState:
        phone = self.phone(props)
        consent = self._mapped(props, "consent_status")
        return ContactState(
            ref=CrmRef(self.object_name, record_id),
            phone=phone,
            time_zones=self.time_zones(props, phone),
            owner_id=self._get(props, "owner"),
            owner_team=self._get(props, "owner_team"),
            lifecycle_stage=self._mapped(props, "lifecycle_stage"),
            journey_state=self._mapped(props, "journey_state"),
            active_motion=self._get(props, "active_motion"),
            disposition=self._mapped(props, "disposition"),
            consent=ConsentStatus(consent) if consent else ConsentStatus.UNKNOWN,
            segments=self.segments(props),
            modstamp=parse_stamp(props.get(MODIFIED)),
        )

    # writing ---------------------------------------------------------------------------

    def contact_properties(self, fields: Mapping[str, object]) -> dict[str, str]:
        """A field update's canonical values as contact property values.

        Raises KeyError for a canonical field the mapping does not place, ValueError for a
        value no value map covers."""
        out: dict[str, str] = {}
        for canonical, value in fields.items():
            name = getattr(self.fields, canonical, None)
            if not isinstance(name, str):
                raise KeyError(f"the mapping places no property for {canonical!r}")
            if value is None:
                out[name] = ""
            elif canonical in _VALUE_MAPPED:
                crm_value = self.mapping.to_crm(canonical, str(value))
                if crm_value is None:
                    raise ValueError(f"value_maps.{canonical} has no entry for {value!r}")
                out[name] = crm_value
            else:
                out[name] = _text(value)
        return out

    def activity_properties(self, write: CrmWrite) -> dict[str, str]:
        f = write.fields
        at = f.get("at")
        when = at if isinstance(at, datetime) else datetime.now(UTC)
        inbound = str(f.get("direction", "")).lower() == "inbound"
        about = [f"{'Inbound' if inbound else 'Outbound'} SMS", str(f.get("status") or "")]
        about.extend(f"{key} {f[key]}" for key in ("play", "disposition") if f.get(key))
        header = " · ".join(a for a in about if a)
        props = {
            "hs_communication_channel_type": "SMS",
            "hs_communication_logged_from": "CRM",
            "hs_communication_body": f"{header}\n\n{f.get('body', '')}",
            "hs_timestamp": iso(when),
            self.mapping.activity.external_id_field: write.external_id,
        }
        if write.owner_id:
            props["hubspot_owner_id"] = write.owner_id
        return props

    def task_properties(self, write: CrmWrite) -> dict[str, str]:
        f = write.fields
        tasks = self.mapping.tasks
        due = write.due or (f.get("at") if isinstance(f.get("at"), datetime) else None)
        status = str(f.get("status", "open"))
        props = {
            "hs_timestamp": iso(due if isinstance(due, datetime) else datetime.now(UTC)),
            "hs_task_subject": str(f.get("subject", "")),
            "hs_task_body": str(f.get("body", "")),
            "hs_task_status": tasks.status.done if status == "done" else tasks.status.open,
            "hs_task_priority": _PRIORITY.get(str(f.get("priority", "")), tasks.priority),
            "hs_task_type": tasks.type,
            tasks.external_id_field: write.external_id,
        }
        owner = write.owner_id or tasks.fallback_owner_id
        if owner:
            props["hubspot_owner_id"] = owner
        return props
