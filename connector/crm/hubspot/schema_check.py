"""`smsync mappings check` for HubSpot: the mapping against the portal's properties API.

Four kinds of problem, each located at the mapping file's FILE:LINE:COL:
- a mapped property that does not exist on the object;
- a property whose type cannot hold the canonical value (a datetime in a text field ...);
- a value-map or task value that is not an option of the enumeration;
- an external-id property that is not unique while `idempotency: unique_property`;
- a written property whose value is read-only, an owner id the portal lacks or has
  archived, a routing team the portal does not have;
- with a plays file, a value a play waits for that the property's options lack
  (`connector.crm.org_check`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from connector.config import MappingConfig, Settings, YamlDocument, YamlPath, read_yaml
from connector.crm.hubspot.auth import TokenSource
from connector.crm.hubspot.client import HubSpotCrm
from connector.crm.org_check import (
    FieldFacts,
    OrgFacts,
    Person,
    id_problems,
    wait_problems,
    write_problems,
)
from connector.crm.org_predicates import predicate_problems
from connector.errors import Problem

# canonical field -> property types that can hold it (anything unlisted: text or enum)
_TYPES: Mapping[str, frozenset[str]] = {
    "consent_timestamp": frozenset({"datetime", "date"}),
    "sla_due": frozenset({"datetime", "date"}),
    "sla_breached": frozenset({"bool", "enumeration"}),
}
_TEXTUAL = frozenset({"string", "enumeration", "phone_number"})
_VALUE_MAPPED = ("consent_status", "consent_source", "disposition", "journey_state")


def check_mapping(
    settings: Settings,
    mapping: MappingConfig,
    mapping_path: Path,
    plays_path: Path | None = None,
    *,
    tokens: TokenSource | None = None,
) -> list[Problem]:
    """Every problem the portal shows in the mapping (and the plays file, when given); []
    when they fit. `tokens`: the running sidecar's token source, so an OAuth refresh token
    (which HubSpot rotates) is not spent twice."""
    crm = HubSpotCrm.from_settings(settings, mapping, tokens=tokens)
    schema = {obj: _properties(crm, obj) for obj in _objects(mapping)}
    doc = read_yaml(mapping_path)
    problems = list(_problems(mapping, schema, doc))
    facts = _facts(crm, schema)
    problems.extend(id_problems(mapping, facts, doc))
    problems.extend(write_problems(mapping, facts, doc, contact_fields=True))
    if plays_path is not None:
        plays_doc = read_yaml(plays_path)
        problems.extend(wait_problems(mapping, facts, plays_doc))
        problems.extend(predicate_problems(mapping, facts, plays_doc))
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


def _facts(crm: HubSpotCrm, schema: dict[str, dict[str, dict[str, Any]]]) -> OrgFacts:
    """Properties, and every owner (active and archived) with their teams."""
    facts = OrgFacts("hubspot")
    for obj, props in schema.items():
        facts.fields[obj] = {
            name.lower(): FieldFacts(
                name,
                p["type"],
                frozenset(p["options"]) if p["type"] == "enumeration" else None,
                writable=not p["read_only"],
                createable=not p["read_only"],
            )
            for name, p in props.items()
        }
    teams: set[str] = set()
    for archived in (False, True):
        for row in _owners(crm, archived=archived):
            owner_id = str(row.get("id") or "")
            name = f"{row.get('firstName') or ''} {row.get('lastName') or ''}".strip()
            facts.people[owner_id] = Person(owner_id, "owner", name or owner_id, not archived)
            if not archived:
                teams.update(str(t.get("name")) for t in row.get("teams") or [] if t.get("name"))
    facts.teams = frozenset(teams)
    return facts


def _owners(crm: HubSpotCrm, *, archived: bool) -> Iterator[dict[str, Any]]:
    api = crm.api
    after: str | None = None
    seen: set[str] = set()
    while True:
        kwargs: dict[str, Any] = {"limit": 500, "archived": archived}
        if after:
            kwargs["after"] = after
        page: dict[str, Any] = api.call(
            "list owners", api.owners.get_page_with_http_info, raw=True, **kwargs
        ).data
        yield from page.get("results") or []
        nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not nxt or nxt in seen:
            return
        seen.add(str(nxt))
        after = str(nxt)


def _objects(mapping: MappingConfig) -> list[str]:
    return list(
        dict.fromkeys([*mapping.object_names, mapping.activity.object, mapping.tasks.object])
    )


def _properties(crm: HubSpotCrm, object_type: str) -> dict[str, dict[str, Any]]:
    api = crm.api
    reply = api.call(
        f"properties of {object_type}",
        api.properties.get_all_with_http_info,
        object_type=object_type,
        archived=False,
    )
    out: dict[str, dict[str, Any]] = {}
    for p in reply.data.results or []:
        out[str(p.name)] = {
            "type": str(p.type),
            "options": {str(o.value) for o in (p.options or [])},
            "unique": bool(getattr(p, "has_unique_value", False)),
            "read_only": bool(getattr(p.modification_metadata, "read_only_value", False)),
        }
    return out


def _problems(
    mapping: MappingConfig, schema: dict[str, dict[str, dict[str, Any]]], doc: YamlDocument
) -> Iterator[Problem]:
    def at(path: YamlPath, message: str, *, key: bool = False) -> Problem:
        pos = doc.nearest(path, prefer_key=key)
        return Problem(doc.file, pos.line, pos.col, message)

    for n, obj in enumerate(mapping.objects):
        props = schema[obj.name]
        for i, name in enumerate(obj.phone_fields):
            if name not in props:
                yield at(("objects", n, "phone_fields", i), _missing(name, obj.name))
        fields = mapping.field_map(obj.name)
        for canonical, name in fields:
            if canonical == "segments" or not isinstance(name, str):
                continue
            path = _field_path(doc, n, canonical)
            prop = props.get(name)
            if prop is None:
                yield at(path, _missing(name, obj.name))
                continue
            allowed = _TYPES.get(canonical, _TEXTUAL)
            if prop["type"] not in allowed:
                yield at(
                    path,
                    f"property {name!r} on {obj.name} is of type {prop['type']}, but"
                    f" {canonical} needs {' or '.join(sorted(allowed))}",
                )
                continue
            if canonical in (*_VALUE_MAPPED, "lifecycle_stage") and prop["type"] == "enumeration":
                values: Mapping[str, str] = getattr(mapping.value_maps, canonical)
                for value in values:
                    if prop["options"] and value not in prop["options"]:
                        yield at(
                            ("value_maps", canonical, value),
                            f"{value!r} is not an option of {obj.name}.{name}; options are"
                            f" {', '.join(sorted(prop['options']))}",
                            key=True,
                        )
        for segment, name in fields.segments.items():
            if name not in props:
                yield at(("fields", "segments", segment), _missing(name, obj.name))
    yield from _engagement_problems(mapping, schema, at)
    yield from _rep_send_problems(mapping, schema, at)


def _field_path(doc: YamlDocument, n: int, canonical: str) -> YamlPath:
    override: YamlPath = ("objects", n, "fields", canonical)
    return override if doc.value_at(override) is not None else ("fields", canonical)


def _engagement_problems(
    mapping: MappingConfig, schema: dict[str, dict[str, dict[str, Any]]], at: Any
) -> Iterator[Problem]:
    unique_mode = mapping.idempotency_mode == "unique_property"
    for section, obj, ext in (
        ("activity", mapping.activity.object, mapping.activity.external_id_field),
        ("tasks", mapping.tasks.object, mapping.tasks.external_id_field),
    ):
        prop = schema[obj].get(ext)
        if prop is None:
            yield at((section, "external_id_field"), _missing(ext, obj))
        elif unique_mode and not prop["unique"]:
            yield at(
                (section, "external_id_field"),
                f"property {ext!r} on {obj} is not unique (hasUniqueValue: false), so"
                " idempotency: unique_property cannot upsert by it; make it a unique-value"
                " property, or set idempotency: local_map if the portal refuses",
            )
    tasks = schema[mapping.tasks.object]
    t = mapping.tasks
    for path, prop_name, value in (
        (("tasks", "priority"), "hs_task_priority", t.priority),
        (("tasks", "type"), "hs_task_type", t.type),
        (("tasks", "status", "open"), "hs_task_status", t.status.open),
        (("tasks", "status", "done"), "hs_task_status", t.status.done),
    ):
        options = tasks.get(prop_name, {}).get("options") or set()
        if options and value not in options:
            yield at(
                path,
                f"{value!r} is not an option of tasks.{prop_name}; options are"
                f" {', '.join(sorted(options))}",
            )


def _rep_send_problems(
    mapping: MappingConfig, schema: dict[str, dict[str, dict[str, Any]]], at: Any
) -> Iterator[Problem]:
    """The `rep_send:` task properties exist and hold the mapped values."""
    cfg = mapping.rep_send
    if cfg is None or cfg.object not in schema:
        return
    props = schema[cfg.object]
    for key, name, values in (
        ("status_field", cfg.status_field, (cfg.send_status, cfg.done_status)),
        ("kind_field", cfg.kind_field, (cfg.kind,)),
        ("body_field", cfg.body_field, ()),
        ("result_field", cfg.result_field, ()),
    ):
        if name is None:
            continue
        prop = props.get(name)
        if prop is None:
            yield at(("rep_send", key), _missing(name, cfg.object))
            continue
        if key == "result_field" and prop["read_only"]:
            yield at(("rep_send", key), f"{cfg.object}.{name} is read-only; map a writable one")
        for value in values:
            if value is not None and prop["options"] and value not in prop["options"]:
                yield at(
                    ("rep_send", key),
                    f"{value!r} is not an option of {cfg.object}.{name}; options are"
                    f" {', '.join(sorted(prop['options']))}",
                )


def _missing(name: str, obj: str) -> str:
    return (
        f"property {name!r} does not exist on {obj} in this HubSpot portal; create it or"
        " fix the internal name"
    )


def read_facts(
    settings: Settings, mapping: MappingConfig, *, tokens: TokenSource | None = None
) -> OrgFacts:
    """The portal's properties and owners, for `--fix-plan`."""
    crm = HubSpotCrm.from_settings(settings, mapping, tokens=tokens)
    return _facts(crm, {obj: _properties(crm, obj) for obj in _objects(mapping)})
