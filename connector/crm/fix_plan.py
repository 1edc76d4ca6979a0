"""`smsync mappings check --fix-plan`: what to create in the org so the mapping and plays
fit it, in one go: the custom fields (or HubSpot properties) the mapping names but the org
lacks, the picklist values the value maps and plays need, and the external-id flags.

Each step says where to click in Setup (Salesforce) and carries the vendor's own request:
a Tooling API `CustomField` create for a Salesforce custom field, a property definition for
HubSpot's properties API (`POST /crm/v3/properties/{object}`, or `PATCH` of an existing
enumeration's options). Standard Salesforce picklists (Lead Status) take values in Setup
only, so their steps have no request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connector.config import MappingConfig, YamlDocument
from connector.crm.org_check import (
    VALUE_MAPPED,
    OrgFacts,
    crm_field_of,
    crm_values_for,
    waits,
)

# canonical field or segment -> the kind of field that holds it
_KINDS: Mapping[str, str] = {
    "consent_timestamp": "datetime",
    "sla_due": "datetime",
    "sla_breached": "boolean",
    "meeting_time": "datetime",
    "form_submitted_at": "datetime",
    "renewal_date": "date",
    "last_activity": "date",
    "owner": "reference",
}
_SF_TYPES = {"datetime": "DateTime", "date": "Date", "boolean": "Checkbox"}
_HS_TYPES = {
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "boolean": ("bool", "booleancheckbox"),
    "text": ("string", "text"),
    "picklist": ("enumeration", "select"),
}
Step = dict[str, Any]


def _label(name: str) -> str:
    base = name.removesuffix("__c").replace("_", " ").strip()
    return base[:40] or name


def _union(mapping: MappingConfig, facts: OrgFacts, canonical: str) -> set[str]:
    """Every value of the picklists that hold `canonical` on the objects that have one."""
    found: set[str] = set()
    for obj in mapping.object_names:
        name = crm_field_of(mapping, obj, canonical)
        field = facts.field(obj, name) if name else None
        if field is not None and field.values is not None:
            found |= field.values
    return found


def _needed_values(
    mapping: MappingConfig, facts: OrgFacts, plays_doc: YamlDocument | None
) -> dict[tuple[str, str], list[str]]:
    """(object, canonical) -> the CRM values its picklist must gain. A value map is shared
    by the objects, so its entries must be in one of their picklists (the first that can
    take them); a value a play waits for must be in every object's."""
    needed: dict[tuple[str, str], list[str]] = {}
    for canonical in VALUE_MAPPED:
        values: Mapping[str, str] = getattr(mapping.value_maps, canonical)
        absent = [v for v in values if v not in _union(mapping, facts, canonical)]
        holders = [o for o in mapping.object_names if crm_field_of(mapping, o, canonical)]
        if absent and holders:
            missing = [
                o
                for o in holders
                if facts.field(o, crm_field_of(mapping, o, canonical) or "") is None
            ]
            needed[(missing or holders)[0], canonical] = absent
            for other in missing[1:]:  # a field created from scratch holds the whole map
                needed[other, canonical] = list(values)
    for wait in waits(plays_doc) if plays_doc is not None else []:
        wanted = crm_values_for(mapping, wait.field, wait.value) or [wait.value]
        for obj in mapping.object_names:
            name = crm_field_of(mapping, obj, wait.field)
            if name is None:
                continue
            field = facts.field(obj, name)
            have = set(field.values or ()) if field is not None else set()
            adding = needed.setdefault((obj, wait.field), [])
            if field is not None and field.values is None:
                continue  # free text takes any value
            if not any(v in have or v in adding for v in wanted):
                adding.append(wanted[0])
    return needed


def _fields(mapping: MappingConfig) -> Iterator[tuple[str, str, str]]:
    """(object, canonical, CRM field) for every mapped field and segment."""
    for obj in mapping.object_names:
        field_map = mapping.field_map(obj)
        for canonical, name in field_map:
            if canonical != "segments" and isinstance(name, str):
                yield obj, canonical, name
        for segment, name in field_map.segments.items():
            yield obj, segment, name


def plan(
    mapping: MappingConfig, facts: OrgFacts, plays_doc: YamlDocument | None = None
) -> list[Step]:
    """Every step, in the order an admin would take them (fields first, then values)."""
    needed = _needed_values(mapping, facts, plays_doc)
    steps: list[Step] = []
    created: set[tuple[str, str]] = set()
    for obj, canonical, name in _fields(mapping):
        if (obj, name.lower()) in created or facts.field(obj, name) is not None:
            continue
        created.add((obj, name.lower()))
        kind = _KINDS.get(canonical, "picklist" if canonical in VALUE_MAPPED else "text")
        values = list(dict.fromkeys(needed.get((obj, canonical), []))) if kind == "picklist" else []
        if kind == "picklist" and not values:
            values = list(getattr(mapping.value_maps, canonical))
        steps.append(_create(facts.crm, obj, name, kind, values))
    for (obj, canonical), values in needed.items():
        mapped = crm_field_of(mapping, obj, canonical)
        found = facts.field(obj, mapped) if mapped else None
        if found is None or found.values is None or not values:
            continue  # created above with its values, or free text
        missing = [v for v in dict.fromkeys(values) if v not in found.values]
        if missing:
            steps.append(_add_values(facts.crm, obj, found.name, sorted(found.values), missing))
    for obj, ext in (
        (mapping.activity.object, mapping.activity.external_id_field),
        (mapping.tasks.object, mapping.tasks.external_id_field),
    ):
        if (obj, ext.lower()) in created:
            continue
        created.add((obj, ext.lower()))
        if facts.field(obj, ext) is None:
            steps.append(_create(facts.crm, obj, ext, "external_id", []))
    steps.extend(_rep_send_steps(mapping, facts, created))
    return steps


def _rep_send_steps(
    mapping: MappingConfig, facts: OrgFacts, created: set[tuple[str, str]]
) -> Iterator[Step]:
    """The `rep_send:` record: its result field, and the kind and status values."""
    cfg = mapping.rep_send
    if cfg is None:
        return
    for name, kind, values in (
        (cfg.result_field, "text", []),
        (cfg.kind_field, "picklist", [cfg.kind]),
        (cfg.status_field, "picklist", [cfg.send_status, cfg.done_status]),
    ):
        wanted = [v for v in values if v]
        if name is None or (cfg.object, name.lower()) in created:
            continue
        found = facts.field(cfg.object, name)
        if found is None:
            created.add((cfg.object, name.lower()))
            yield _create(facts.crm, cfg.object, name, kind, wanted)
        elif found.values is not None:
            missing = [v for v in wanted if v not in found.values]
            if missing:
                yield _add_values(facts.crm, cfg.object, found.name, sorted(found.values), missing)


def _create(crm: str, obj: str, name: str, kind: str, values: list[str]) -> Step:
    if crm == "salesforce":
        return _sf_create(obj, name, kind, values)
    return _hs_create(obj, name, kind, values)


def _sf_create(obj: str, name: str, kind: str, values: list[str]) -> Step:
    label = _label(name)
    metadata: dict[str, Any] = {"label": label}
    if kind == "picklist":
        metadata["type"] = "Picklist"
        metadata["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in values],
            },
        }
        what = f"Picklist (restricted) with values {', '.join(values)}"
    elif kind == "external_id":
        metadata.update(type="Text", length=255, externalId=True, unique=True, caseSensitive=True)
        what = "Text(255), External ID, Unique (case sensitive)"
    elif kind in _SF_TYPES:
        metadata["type"] = _SF_TYPES[kind]
        if kind == "boolean":
            metadata["defaultValue"] = "false"
        what = _SF_TYPES[kind]
    else:
        metadata.update(type="Text", length=255)
        what = "Text(255)"
    step: Step = {
        "action": "create_field",
        "object": obj,
        "field": name,
        "setup": f"Setup > Object Manager > {obj} > Fields & Relationships > New: {what},"
        f" Field Name {name.removesuffix('__c')}; give the integration user edit access",
    }
    if name.endswith("__c"):
        step["tooling"] = {
            "method": "POST",
            "path": "tooling/sobjects/CustomField",
            "body": {"FullName": f"{obj}.{name}", "Metadata": metadata},
        }
    else:
        step["setup"] = f"{obj}.{name} is a standard field the org lacks; map an existing field"
    return step


def _hs_create(obj: str, name: str, kind: str, values: list[str]) -> Step:
    ptype, field_type = _HS_TYPES.get(kind, _HS_TYPES["text"])
    body: dict[str, Any] = {
        "name": name,
        "label": _label(name).title(),
        "type": ptype,
        "fieldType": field_type,
        "groupName": "contactinformation" if obj == "contacts" else f"{obj[:-1]}information",
    }
    if kind == "picklist":
        body["options"] = [
            {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)
        ]
    if kind == "boolean":
        body["options"] = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    if kind == "external_id":
        body["hasUniqueValue"] = True
    return {
        "action": "create_property",
        "object": obj,
        "field": name,
        "request": {"method": "POST", "path": f"/crm/v3/properties/{obj}", "body": body},
    }


def _add_values(crm: str, obj: str, field: str, have: list[str], missing: list[str]) -> Step:
    step: Step = {
        "action": "add_picklist_values",
        "object": obj,
        "field": field,
        "values": missing,
    }
    if crm == "salesforce":
        step["setup"] = (
            f"Setup > Object Manager > {obj} > Fields & Relationships > {field} > Values >"
            f" New: {', '.join(missing)}"
        )
    else:
        options = [*have, *missing]
        step["request"] = {
            "method": "PATCH",
            "path": f"/crm/v3/properties/{obj}/{field}",
            "body": {
                "options": [
                    {"label": v, "value": v, "displayOrder": i, "hidden": False}
                    for i, v in enumerate(options)
                ]
            },
        }
    return step
