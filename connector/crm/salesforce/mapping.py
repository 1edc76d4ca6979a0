"""Canonical records ⇄ Salesforce fields and picklists, driven by the admin's mapping file.

Reading: a Lead or Contact row becomes a `ContactState` (phone as E.164 from the mapped
phone fields in order, picklists through the value maps, the time zone with where it came
from). Writing: a `CrmWrite` becomes an sObject record: a Task upserted on the mapping's
external-id field, or a field update by Id. Field names only ever come from the validated
mapping (or from describe, for the optional direction field)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

DEFAULT_ZONE = "America/Chicago"
SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
DIRECTION_FIELD = "SMS_Direction__c"  # used only when describe shows it on the Task object
ACTIVITY_TYPE = "Other"
VALUE_MAPPED = (
    "consent_status",
    "consent_source",
    "disposition",
    "journey_state",
    "lifecycle_stage",
)
PRIORITY = {"high": "High", "normal": "Normal", "low": "Low"}
SCALAR_FIELDS = (
    "journey_state",
    "active_motion",
    "disposition",
    "consent_status",
    "consent_timestamp",
    "consent_source",
    "sla_due",
    "sla_breached",
    "owner",
    "owner_team",
    "lifecycle_stage",
    "time_zone",
    "phone_status",
    "sms_thread",
)


class WriteMappingError(ValueError):
    """A write's canonical value has no Salesforce spelling: a per-record error."""

    code = "UNMAPPED_VALUE"


def parse_datetime(raw: Any) -> datetime | None:
    """Salesforce's '2026-11-22T19:06:26.000+0000' (or ISO with Z) as aware UTC."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def wire_datetime(when: datetime) -> str:
    utc = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _valid_zone(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name.strip()


@dataclass(frozen=True, slots=True)
class ObjectMap:
    """One contact object: its effective field map and phone fields."""

    name: str
    phone_fields: tuple[str, ...]
    fields: FieldMap

    def select(self) -> tuple[str, ...]:
        """Every field a pull reads, in a stable order (identifiers from the mapping)."""
        names = ["Id", "SystemModstamp", *self.phone_fields, *self.fields.crm_fields()]
        return tuple(dict.fromkeys(names))

    def field(self, canonical: str) -> str | None:
        value = getattr(self.fields, canonical, None)
        return value if isinstance(value, str) else None


class SalesforceMapping:
    """The mapping file, as the Salesforce adapter reads and writes records with it."""

    def __init__(self, mapping: MappingConfig) -> None:
        if mapping.crm != "salesforce":
            raise ValueError("a Salesforce adapter needs a mapping with crm: salesforce")
        self.config = mapping
        self.objects = {
            o.name: ObjectMap(o.name, tuple(o.phone_fields), mapping.field_map(o.name))
            for o in mapping.objects
        }
        self.default_zone = (
            mapping.sla.business_hours.time_zone if mapping.sla is not None else DEFAULT_ZONE
        )

    # reading -----------------------------------------------------------------------------
    def _canonical(self, kind: str, raw: Any) -> str | None:
        if raw is None or raw == "":
            return None
        values: dict[str, str] = dict(getattr(self.config.value_maps, kind))
        if not values:
            return str(raw)  # no value map for this kind: the value is already canonical
        return values.get(str(raw))

    def to_contact(self, object_name: str, row: dict[str, Any]) -> ContactState:
        obj = self.objects[object_name]
        phone = next((p for p in (try_e164(_str(row.get(f))) for f in obj.phone_fields) if p), None)

        def get(canonical: str) -> Any:
            name = obj.field(canonical)
            return row.get(name) if name else None

        consent = self._canonical("consent_status", get("consent_status"))
        segments = {
            seg: str(row[field])
            for seg, field in obj.fields.segments.items()
            if row.get(field) not in (None, "")
        }
        return ContactState(
            ref=CrmRef(object_name, str(row["Id"])),
            phone=phone,
            time_zones=self._zones(get("time_zone"), phone, segments),
            owner_id=_str(get("owner")) or None,
            owner_team=_str(get("owner_team")) or None,
            lifecycle_stage=self._canonical("lifecycle_stage", get("lifecycle_stage")),
            journey_state=self._canonical("journey_state", get("journey_state")),
            active_motion=_str(get("active_motion")) or None,
            disposition=self._canonical("disposition", get("disposition")),
            consent=ConsentStatus(consent) if consent else ConsentStatus.UNKNOWN,
            segments=segments,
            modstamp=parse_datetime(row.get("SystemModstamp")),
        )

    def _zones(self, crm_value: Any, phone: str | None, segments: dict[str, str]) -> TimeZones:
        return contact_zones(
            _valid_zone(crm_value),
            phone,
            self.default_zone,
            region=segments.get(REGION_SEGMENT),
            postal_code=segments.get(POSTAL_SEGMENT),
        )

    # writing -----------------------------------------------------------------------------
    def _crm_value(self, canonical: str, value: Any) -> Any:
        if value is None:
            return None
        if canonical in VALUE_MAPPED:
            crm = self.config.to_crm(canonical, str(value))
            if crm is None:
                if not dict(getattr(self.config.value_maps, canonical)):
                    return str(value)
                raise WriteMappingError(
                    f"no {canonical} picklist value maps to {value!r}; add a"
                    f" `Value: {value}` entry under value_maps.{canonical}"
                )
            return crm
        if isinstance(value, datetime):
            return wire_datetime(value)
        if isinstance(value, bool):
            return value
        return str(value)

    def field_update(self, write: CrmWrite) -> dict[str, Any]:
        """`{attributes, Id, Field__c: value, ...}` for a composite update by Id."""
        obj = self.objects.get(write.target.object_type)
        if obj is None:
            raise WriteMappingError(
                f"{write.target.object_type} is not a mapped object; map it under objects"
            )
        record: dict[str, Any] = {
            "attributes": {"type": obj.name},
            "Id": write.target.id,
        }
        for canonical, value in write.fields.items():
            if canonical == "segments" and isinstance(value, dict):
                for seg, seg_value in value.items():
                    name = obj.fields.segments.get(str(seg))
                    if name is None:
                        raise WriteMappingError(f"segment {seg!r} is not mapped for {obj.name}")
                    record[name] = None if seg_value is None else str(seg_value)
                continue
            name = obj.field(canonical) if canonical in SCALAR_FIELDS else None
            if name is None:
                raise WriteMappingError(
                    f"canonical field {canonical!r} has no {obj.name} field in the mapping"
                )
            record[name] = self._crm_value(canonical, value)
        return record

    def activity(self, write: CrmWrite, *, direction_field: str | None) -> dict[str, Any]:
        """A completed Task logging one SMS, keyed by the activity external-id field."""
        f = write.fields
        cfg = self.config.activity
        inbound = str(f.get("direction", "")).lower() == "inbound"
        body = str(f.get("body") or "")
        at = f.get("at")
        when = at if isinstance(at, datetime) else parse_datetime(at)  # JSON from the outbox
        disposition = f.get("disposition")
        subject = f"SMS {'received' if inbound else 'sent'}: {body}".replace("\n", " ")
        lines = [body, "", f"Direction: {'Inbound' if inbound else 'Outbound'}"]
        lines.append(f"Status: {f.get('status', '')}")
        if disposition:
            lines.append(f"Disposition: {disposition}")
        if f.get("play"):
            lines.append(f"Play: {f['play']}")
        if f.get("message_sid"):
            lines.append(f"Message: {f['message_sid']}")
        record: dict[str, Any] = {
            "attributes": {"type": cfg.object},
            cfg.external_id_field: write.external_id,
            "Subject": _cut(subject, SUBJECT_MAX),
            "Description": _cut("\n".join(lines), DESCRIPTION_MAX),
            "WhoId": write.target.id,
            "Status": self.config.tasks.status.done,
            "Type": cfg.type or ACTIVITY_TYPE,
        }
        if cfg.subtype:
            record["TaskSubtype"] = cfg.subtype
        if when is not None:
            record["ActivityDate"] = when.astimezone(UTC).date().isoformat()
        if write.owner_id:
            record["OwnerId"] = write.owner_id
        if direction_field:
            record[direction_field] = "Inbound" if inbound else "Outbound"
        return record

    def task(self, write: CrmWrite, *, owner_id: str | None) -> dict[str, Any]:
        """A follow-up or escalation Task; the due date is the UTC date, never shifted."""
        f = write.fields
        cfg = self.config.tasks
        priority = PRIORITY.get(str(f.get("priority", "")).lower(), cfg.priority)
        status = cfg.status.done if str(f.get("status", "open")) == "done" else cfg.status.open
        record: dict[str, Any] = {
            "attributes": {"type": cfg.object},
            cfg.external_id_field: write.external_id,
            "Subject": _cut(
                str(f.get("subject") or "SMS follow-up").replace("\n", " "), SUBJECT_MAX
            ),
            "Description": _cut(str(f.get("body") or ""), DESCRIPTION_MAX),
            "WhoId": write.target.id,
            "Status": status,
            "Priority": priority,
            "Type": cfg.type,
        }
        if write.due is not None:
            due = write.due if write.due.tzinfo else write.due.replace(tzinfo=UTC)
            record["ActivityDate"] = due.astimezone(UTC).date().isoformat()
        if owner_id:
            record["OwnerId"] = owner_id
        return record


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
