"""`smsync mappings check` for Salesforce: every mapped field against the org's describe.

Each problem is reported at its place in the mapping file: a missing field, a type
mismatch, a field smsync writes that is not updateable, an external-id field that is not
marked External ID (or not createable), a value-map entry that is not in the field's
picklist, and a user or queue id (routing, fallback owners) that the org lacks or has
inactive. With a plays file, each value a play waits for that an object's picklist lacks
is reported at the play's line (`connector.crm.org_check`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simple_salesforce.format import format_soql

from connector.config import MappingConfig, Settings, YamlDocument, YamlPath, read_yaml
from connector.crm.org_check import (
    FieldFacts,
    OrgFacts,
    Person,
    id_problems,
    id_uses,
    wait_problems,
    write_problems,
)
from connector.crm.org_predicates import predicate_problems
from connector.crm.salesforce.client import SalesforceCrm
from connector.crm.salesforce.mapping import SCALAR_FIELDS, VALUE_MAPPED
from connector.errors import ConfigError, Problem

# canonical field -> the describe types it may have
TYPES: dict[str, frozenset[str]] = {
    "phone": frozenset({"phone", "string"}),
    "journey_state": frozenset({"picklist", "string"}),
    "active_motion": frozenset({"string", "picklist", "textarea"}),
    "disposition": frozenset({"picklist", "string"}),
    "consent_status": frozenset({"picklist", "string"}),
    "consent_timestamp": frozenset({"datetime"}),
    "consent_source": frozenset({"picklist", "string"}),
    "sla_due": frozenset({"datetime"}),
    "sla_breached": frozenset({"boolean"}),
    "owner": frozenset({"reference"}),
    "owner_team": frozenset({"string", "picklist", "textarea"}),
    "lifecycle_stage": frozenset({"picklist", "string"}),
    "time_zone": frozenset({"string", "picklist"}),
    "phone_status": frozenset({"string", "picklist"}),
    "sms_thread": frozenset({"textarea", "string"}),
}
EXTERNAL_ID_TYPES = frozenset({"string", "email", "int", "double", "id"})
Describe = dict[str, dict[str, Any]]  # field name -> its describe entry


@dataclass(frozen=True, slots=True)
class _Use:
    """One mapped field: where the file names it, and what smsync needs of it."""

    object: str
    field: str
    canonical: str  # a key of TYPES, or "segment"
    path: YamlPath
    written: bool


class _Checker:
    def __init__(self, mapping: MappingConfig, doc: YamlDocument) -> None:
        self.mapping = mapping
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        pos = self.doc.nearest(path, prefer_key=key)
        self.problems.append(Problem(self.doc.file, pos.line, pos.col, message))

    def uses(self) -> Iterable[_Use]:
        for i, obj in enumerate(self.mapping.objects):
            for j, phone in enumerate(obj.phone_fields):
                yield _Use(
                    obj.name, phone, "phone", ("objects", i, "phone_fields", j), written=False
                )
            fm = self.mapping.field_map(obj.name)
            for canonical in SCALAR_FIELDS:
                name = getattr(fm, canonical)
                if not name:
                    continue
                overridden = getattr(obj.fields, canonical) is not None
                path: YamlPath = (
                    ("objects", i, "fields", canonical) if overridden else ("fields", canonical)
                )
                yield _Use(obj.name, name, canonical, path, written=True)
            for seg, name in fm.segments.items():
                own = seg in obj.fields.segments
                path = (
                    ("objects", i, "fields", "segments", seg)
                    if own
                    else ("fields", "segments", seg)
                )
                yield _Use(obj.name, name, "segment", path, written=False)

    def check_use(self, use: _Use, fields: Describe) -> None:
        found = fields.get(use.field.lower())
        if found is None:
            self.problem(
                use.path,
                f"{use.object} has no field {use.field!r} (for {use.canonical}); create it in"
                " Setup or map an existing field (API names end in __c for custom fields)",
            )
            return
        ftype = str(found.get("type"))
        allowed = TYPES.get(use.canonical)
        if allowed is not None and ftype not in allowed:
            self.problem(
                use.path,
                f"{use.object}.{found['name']} is a {ftype} field, but {use.canonical} needs"
                f" {' or '.join(sorted(allowed))}; map a field of the right type",
            )
        if use.written and not found.get("updateable", False):
            self.problem(
                use.path,
                f"{use.object}.{found['name']} is not updateable, but smsync writes"
                f" {use.canonical} back; grant edit access (field-level security) or map"
                " another field",
            )

    def check_external_id(self, section: str, obj: str, field: str, fields: Describe) -> None:
        path: YamlPath = (section, "external_id_field")
        found = fields.get(field.lower())
        if found is None:
            self.problem(
                path,
                f"{obj} has no field {field!r}; create a Text field marked External ID and"
                " Unique to hold smsync's ids",
            )
            return
        if not found.get("externalId", False):
            self.problem(
                path,
                f"{obj}.{found['name']} is not an External ID field, so writes cannot upsert"
                " on it (replays would duplicate); tick External ID (and Unique) in Setup",
            )
        elif str(found.get("type")) not in EXTERNAL_ID_TYPES:
            self.problem(path, f"{obj}.{found['name']} cannot hold smsync's text ids")

    def check_value_maps(self, described: dict[str, Describe]) -> None:
        for kind in VALUE_MAPPED:
            values: dict[str, str] = dict(getattr(self.mapping.value_maps, kind))
            if not values:
                continue
            picklists: list[set[str]] = []
            for obj in self.mapping.objects:
                name = getattr(self.mapping.field_map(obj.name), kind)
                found = described.get(obj.name, {}).get(str(name).lower()) if name else None
                if found is not None and found.get("type") == "picklist":
                    picklists.append(_picklist(found))
            if not picklists:
                continue
            allowed = set().union(*picklists)
            for crm_value in values:
                if crm_value not in allowed:
                    self.problem(
                        ("value_maps", kind, crm_value),
                        f"value_maps.{kind}: {crm_value!r} is not a value of the mapped"
                        f" picklist (values: {', '.join(sorted(allowed))}); fix the spelling"
                        " (API value, not label) or add the value in Setup",
                        key=True,
                    )

    def check_task_picklists(self, fields: Describe) -> None:
        tasks = self.mapping.tasks
        for path, field, value in (
            (("tasks", "priority"), "Priority", tasks.priority),
            (("tasks", "type"), "Type", tasks.type),
            (("tasks", "status", "open"), "Status", tasks.status.open),
            (("tasks", "status", "done"), "Status", tasks.status.done),
        ):
            found = fields.get(field.lower())
            if found is not None and found.get("type") == "picklist":
                allowed = _picklist(found)
                if value not in allowed:
                    self.problem(
                        path,
                        f"{tasks.object}.{field} has no picklist value {value!r} (values:"
                        f" {', '.join(sorted(allowed))})",
                    )

    def check_rep_send(self, fields: Describe) -> None:
        """The `rep_send:` Task fields exist, the result is writable, the values are in
        the picklists (an admin adds "Send SMS" to Status and SMS to Type)."""
        cfg = self.mapping.rep_send
        if cfg is None:
            return
        for key, name, value in (
            ("status_field", cfg.status_field, (cfg.send_status, cfg.done_status)),
            ("kind_field", cfg.kind_field, (cfg.kind,)),
            ("body_field", cfg.body_field, ()),
            ("result_field", cfg.result_field, ()),
        ):
            if name is None:
                continue
            found = fields.get(name.lower())
            if found is None:
                hint = "a Text(255) field" if key == "result_field" else "a field"
                self.problem(
                    ("rep_send", key),
                    f"{cfg.object} has no field {name!r}; create {hint} in Setup or map another",
                )
                continue
            if key == "result_field" and not found.get("updateable", False):
                self.problem(
                    ("rep_send", key),
                    f"{cfg.object}.{name} is not updateable; smsync writes each text's outcome"
                    " there (grant edit access in field-level security)",
                )
            if found.get("type") == "picklist":
                allowed = _picklist(found)
                for wanted in value:
                    if wanted is not None and wanted not in allowed:
                        self.problem(
                            ("rep_send", key),
                            f"{cfg.object}.{name} has no picklist value {wanted!r} (values:"
                            f" {', '.join(sorted(allowed))}); add it in Setup",
                        )


def _picklist(entry: dict[str, Any]) -> set[str]:
    return {
        str(p.get("value"))
        for p in entry.get("picklistValues") or []
        if p.get("active", True) and p.get("value") is not None
    }


_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def _facts(crm: SalesforceCrm, mapping: MappingConfig, described: dict[str, Describe]) -> OrgFacts:
    """The org as `org_check` reads it: fields, and the users and queues the mapping names
    (plus a few active users, to suggest instead)."""
    facts = OrgFacts("salesforce")
    for obj, fields in described.items():
        facts.fields[obj] = {
            key: FieldFacts(
                str(f.get("name")),
                str(f.get("type")),
                frozenset(_picklist(f)) if f.get("type") in ("picklist", "multipicklist") else None,
                writable=bool(f.get("updateable", False)),
                createable=bool(f.get("createable", False)),
            )
            for key, f in fields.items()
        }
    ids = sorted({u.id for u in id_uses(mapping) if _SF_ID.match(u.id)})
    queries = ["SELECT Id, Name, IsActive FROM User WHERE IsActive = true LIMIT 5"]
    if ids:
        queries.append(format_soql("SELECT Id, Name, IsActive FROM User WHERE Id IN {}", ids))
        queries.append(format_soql("SELECT Id, Name, Type FROM Group WHERE Id IN {}", ids))
    for soql in queries:
        for page in crm.api.query_pages(soql):
            for row in page:
                record_id = str(row["Id"])
                queue = "Type" in row
                person = Person(
                    record_id,
                    "queue" if queue and row.get("Type") == "Queue" else "user",
                    str(row.get("Name") or ""),
                    True if queue else bool(row.get("IsActive")),
                )
                facts.people[record_id] = facts.people[record_id[:15]] = person
    return facts


def check_mapping(
    settings: Settings,
    mapping: MappingConfig,
    mapping_path: str | Path,
    plays_path: str | Path | None = None,
) -> list[Problem]:
    """Every problem of the mapping (and of the plays file, when given) against the org;
    empty when it is all fine."""
    doc = read_yaml(mapping_path)
    if doc.problems:
        return list(doc.problems)
    plays_doc = read_yaml(plays_path) if plays_path is not None else None
    crm = SalesforceCrm.from_settings(settings, mapping)
    checker = _Checker(mapping, doc)
    try:
        names = dict.fromkeys(
            [*mapping.object_names, mapping.activity.object, mapping.tasks.object]
        )
        described: dict[str, Describe] = {}
        for i, name in enumerate(names):
            try:
                body = crm.api.restful("describe", f"sobjects/{name}/describe")
            except ConfigError:
                path: YamlPath = ("objects", i, "name") if i < len(mapping.objects) else ()
                checker.problem(path, f"the org has no object {name!r} (or it is not visible)")
                continue
            described[name] = {
                str(f.get("name", "")).lower(): f for f in (body or {}).get("fields", [])
            }
        for use in checker.uses():
            if use.object in described:
                checker.check_use(use, described[use.object])
        for section, obj, field in (
            ("activity", mapping.activity.object, mapping.activity.external_id_field),
            ("tasks", mapping.tasks.object, mapping.tasks.external_id_field),
        ):
            if obj in described:
                checker.check_external_id(section, obj, field, described[obj])
        checker.check_value_maps(described)
        if mapping.tasks.object in described:
            checker.check_task_picklists(described[mapping.tasks.object])
        if mapping.rep_send is not None and mapping.rep_send.object in described:
            checker.check_rep_send(described[mapping.rep_send.object])
        facts = _facts(crm, mapping, described)
        checker.problems.extend(id_problems(mapping, facts, doc))
        checker.problems.extend(write_problems(mapping, facts, doc, contact_fields=False))
        if plays_doc is not None:
            checker.problems.extend(wait_problems(mapping, facts, plays_doc))
            checker.problems.extend(predicate_problems(mapping, facts, plays_doc))
    finally:
        crm.close()
    return sorted(set(checker.problems), key=lambda p: (p.line, p.col, p.message))


def read_facts(settings: Settings, mapping: MappingConfig) -> OrgFacts:
    """The org's fields and the mapping's users and queues, for `--fix-plan`."""
    crm = SalesforceCrm.from_settings(settings, mapping)
    try:
        described: dict[str, Describe] = {}
        for name in dict.fromkeys(
            [*mapping.object_names, mapping.activity.object, mapping.tasks.object]
        ):
            try:
                body = crm.api.restful("describe", f"sobjects/{name}/describe")
            except ConfigError:
                continue  # no such object: nothing smsync can create there
            described[name] = {
                str(f.get("name", "")).lower(): f for f in (body or {}).get("fields", [])
            }
        return _facts(crm, mapping, described)
    finally:
        crm.close()
