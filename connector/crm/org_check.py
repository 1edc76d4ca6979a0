"""The admin's files against the live org, beyond field types: the picklist values a play
waits for exist on every object it can fire on, and every user, queue and owner id the
mapping names exists and is active. CRM-neutral: each adapter's `schema_check` reads its
org into `OrgFacts`; this module turns those facts into located problems that say what
the org has instead and how to fix it.

A play waiting for `stage_entered: mql` where Lead Status has no value that maps to `mql`
validates offline yet can never fire on a Lead; only the org can tell.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.config import MappingConfig, YamlDocument, YamlPath
from connector.errors import Problem

VALUE_MAPPED = (
    "lifecycle_stage",
    "journey_state",
    "consent_status",
    "consent_source",
    "disposition",
)


@dataclass(frozen=True, slots=True)
class FieldFacts:
    """One CRM field as the org describes it."""

    name: str  # as the org spells it
    type: str
    values: frozenset[str] | None = None  # active picklist/enumeration values; None: free text
    writable: bool = True  # updateable (Salesforce) / not readOnlyValue (HubSpot)
    createable: bool = True


@dataclass(frozen=True, slots=True)
class Person:
    """A user, queue or owner the org knows."""

    id: str
    kind: str  # "user", "queue" or "owner"
    name: str
    active: bool


@dataclass(slots=True)
class OrgFacts:
    crm: str
    # object -> lower-cased field name -> facts
    fields: dict[str, dict[str, FieldFacts]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)  # by id
    teams: frozenset[str] | None = None  # the CRM's own team names, where it has teams

    def field(self, obj: str, name: str) -> FieldFacts | None:
        return self.fields.get(obj, {}).get(name.lower())


@dataclass(frozen=True, slots=True)
class IdUse:
    """One id the mapping names: where, and what it must be."""

    path: YamlPath
    id: str
    role: str  # words: "the fallback owner of tasks"
    must_be_active: bool = True
    queue_ok: bool = False


def id_uses(mapping: MappingConfig) -> list[IdUse]:
    """Every user, queue or owner id the mapping names."""
    uses: list[IdUse] = []
    tasks = mapping.tasks
    if tasks.fallback_owner_id:
        uses.append(
            IdUse(
                ("tasks", "fallback_owner_id"),
                tasks.fallback_owner_id,
                "the fallback owner",
                queue_ok=True,
            )
        )
    if tasks.review_owner_id:
        uses.append(
            IdUse(
                ("tasks", "review_owner_id"),
                tasks.review_owner_id,
                "the review owner",
                queue_ok=True,
            )
        )
    routing = mapping.routing
    for i, team in enumerate(routing.teams):
        here: YamlPath = ("routing", "teams", i)
        for j, member in enumerate(team.members):
            uses.append(IdUse((*here, "members", j), member, f"a member of team {team.name}"))
        if team.lead_id:
            uses.append(IdUse((*here, "lead_id"), team.lead_id, f"the lead of team {team.name}"))
        if team.fallback_owner_id:
            uses.append(
                IdUse(
                    (*here, "fallback_owner_id"),
                    team.fallback_owner_id,
                    f"the fallback of team {team.name}",
                    queue_ok=True,
                )
            )
    for k, user in enumerate(routing.inactive_users):
        uses.append(
            IdUse(("routing", "inactive_users", k), user, "an inactive user", must_be_active=False)
        )
    if routing.escalation_owner_id:
        uses.append(
            IdUse(
                ("routing", "escalation_owner_id"),
                routing.escalation_owner_id,
                "the escalation owner",
            )
        )
    return uses


def _at(doc: YamlDocument, path: YamlPath, message: str) -> Problem:
    pos = doc.nearest(path)
    return Problem(doc.file, pos.line, pos.col, message)


def _some(people: Mapping[str, Person], kind: str | None = None) -> str:
    active = [p for p in people.values() if p.active and (kind is None or p.kind == kind)]
    shown = ", ".join(f"{p.name} ({p.id})" for p in active[:4])
    more = f" and {len(active) - 4} more" if len(active) > 4 else ""
    return f"{shown}{more}" if shown else "none"


def id_problems(mapping: MappingConfig, facts: OrgFacts, doc: YamlDocument) -> Iterator[Problem]:
    """Each id the mapping names that the org does not have, or has inactive."""
    who = "owner" if facts.crm == "hubspot" else "user or queue"
    for use in id_uses(mapping):
        person = facts.people.get(use.id)
        if person is None:
            yield _at(
                doc,
                use.path,
                f"`{use.id}` ({use.role}) is no {who} in this {facts.crm} org; active ones"
                f" include {_some(facts.people)}; use one of their ids",
            )
        elif person.kind == "queue" and not use.queue_ok:
            yield _at(
                doc,
                use.path,
                f"`{use.id}` ({use.role}) is the queue {person.name}, but this place needs a"
                f" user; use a user's id, such as {_some(facts.people, 'user')}",
            )
        elif use.must_be_active and not person.active:
            yield _at(
                doc,
                use.path,
                f"`{use.id}` ({use.role}) is {person.name}, who is inactive in the org; use an"
                f" active {who} ({_some(facts.people)}), or reactivate them",
            )
        elif not use.must_be_active and person.active:
            continue  # still active: listing them as inactive only routes around them
    if facts.teams is not None:
        for i, team in enumerate(mapping.routing.teams):
            if team.name not in facts.teams:
                yield _at(
                    doc,
                    ("routing", "teams", i, "name"),
                    f"team `{team.name}` is not a team in this {facts.crm} account (teams:"
                    f" {', '.join(sorted(facts.teams)) or 'none'}); create it under Settings >"
                    " Users & Teams, or use an existing team's name",
                )


@dataclass(frozen=True, slots=True)
class Wait:
    """A value a play waits for: its trigger fires only when the field takes it."""

    play: str
    field: str
    value: str
    path: YamlPath


def waits(plays_doc: YamlDocument) -> list[Wait]:
    """`stage_entered` and `field_changed` from/to values, from the raw plays file."""
    data = plays_doc.data if isinstance(plays_doc.data, dict) else {}
    plays = data.get("plays")
    found: list[Wait] = []
    for i, play in enumerate(plays if isinstance(plays, list) else []):
        if not isinstance(play, dict) or not isinstance(play.get("trigger"), dict):
            continue
        name = str(play.get("name"))
        trigger: dict[str, Any] = play["trigger"]
        here: YamlPath = ("plays", i, "trigger")
        stage = trigger.get("stage_entered")
        if isinstance(stage, str):
            found.append(Wait(name, "lifecycle_stage", stage, (*here, "stage_entered")))
        elif isinstance(stage, dict):
            field, value = stage.get("field"), stage.get("stage")
            if isinstance(field, str) and isinstance(value, str):
                found.append(Wait(name, field, value, (*here, "stage_entered", "stage")))
        change = trigger.get("field_changed")
        if isinstance(change, dict) and isinstance(change.get("field"), str):
            for end in ("from", "to"):
                value = change.get(end)
                if isinstance(value, str):
                    path = (*here, "field_changed", end)
                    found.append(Wait(name, change["field"], value, path))
    return found


def crm_field_of(mapping: MappingConfig, obj: str, canonical: str) -> str | None:
    field_map = mapping.field_map(obj)
    if canonical in field_map.segments:
        return field_map.segments[canonical]
    value = getattr(field_map, canonical, None) if canonical != "segments" else None
    return value if isinstance(value, str) else None


def crm_values_for(mapping: MappingConfig, canonical_field: str, value: str) -> list[str]:
    """The CRM values that mean `value`: from the value map, or the value itself."""
    if canonical_field not in VALUE_MAPPED:
        return [value]
    values: Mapping[str, str] = getattr(mapping.value_maps, canonical_field)
    return [crm for crm, canonical in values.items() if canonical == value]


def wait_problems(
    mapping: MappingConfig, facts: OrgFacts, plays_doc: YamlDocument
) -> Iterator[Problem]:
    """Each value a play waits for that an object's picklist cannot take."""
    for wait in waits(plays_doc):
        wanted = crm_values_for(mapping, wait.field, wait.value)
        for obj in mapping.object_names:
            crm_field = crm_field_of(mapping, obj, wait.field)
            found = facts.field(obj, crm_field) if crm_field else None
            if found is None or found.values is None:
                continue  # not mapped on this object, missing (the mapping check says), or text
            if any(v in found.values for v in wanted):
                continue
            has = ", ".join(sorted(found.values)) or "no values"
            if wait.field in VALUE_MAPPED:
                means = (
                    f"value_maps.{wait.field} maps {', '.join(map(repr, wanted))} to it"
                    if wanted
                    else f"value_maps.{wait.field} maps no CRM value to it"
                )
                add = wanted[0] if wanted else wait.value
                fix = (
                    f"add `{add}` to the {obj}.{found.name} picklist (smsync mappings check"
                    f" --fix-plan), or map one of its values to `{wait.value}` in"
                    f" value_maps.{wait.field}"
                )
            else:
                means, add = "the segment holds the CRM value itself", wait.value
                fix = f"add `{add}` to the {obj}.{found.name} picklist, or fix the value"
            yield _at(
                plays_doc,
                wait.path,
                f"play `{wait.play}` waits for {wait.field} `{wait.value}`, but {obj}.{found.name}"
                f" has no such value ({means}; the picklist has: {has}), so it can never fire"
                f" on a {obj}; {fix}",
            )


# canonical fields smsync writes back to the contact records
WRITTEN = (
    "journey_state",
    "active_motion",
    "disposition",
    "consent_status",
    "consent_timestamp",
    "consent_source",
    "sla_due",
    "sla_breached",
    "phone_status",
)


def write_problems(
    mapping: MappingConfig, facts: OrgFacts, doc: YamlDocument, *, contact_fields: bool
) -> Iterator[Problem]:
    """Fields smsync writes that the integration user cannot: the contacts' written fields
    (when `contact_fields`) and the external ids activities and tasks are upserted by."""
    if contact_fields:
        for n, obj in enumerate(mapping.objects):
            for canonical in WRITTEN:
                crm_field = crm_field_of(mapping, obj.name, canonical)
                found = facts.field(obj.name, crm_field) if crm_field else None
                if found is None or found.writable:
                    continue
                override: YamlPath = ("objects", n, "fields", canonical)
                path = override if doc.value_at(override) is not None else ("fields", canonical)
                yield _at(
                    doc,
                    path,
                    f"{obj.name}.{found.name} is read-only for the integration user, but smsync"
                    f" writes {canonical} to it; make it writable (HubSpot: a property whose"
                    " value is not read-only; Salesforce: field-level edit access) or map"
                    " another field",
                )
    for section, obj_name, ext in (
        ("activity", mapping.activity.object, mapping.activity.external_id_field),
        ("tasks", mapping.tasks.object, mapping.tasks.external_id_field),
    ):
        found = facts.field(obj_name, ext)
        if found is not None and not (found.createable and found.writable):
            yield _at(
                doc,
                (section, "external_id_field"),
                f"{obj_name}.{found.name} cannot be set by the integration user, but every"
                f" {section} smsync writes carries its id there; grant create and edit access"
                " to the field",
            )
