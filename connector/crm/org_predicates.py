"""Values a plays file compares a picklist segment with (exclusions, outcomes, the
policy's exclusions), against the org: `{field: industry, values: [Retial]}` validates
offline (a segment holds the CRM's own value) but can never match when no object's
picklist has that value. Value-mapped fields are checked offline (`plays_fields`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from connector.config import MappingConfig, YamlDocument, YamlPath
from connector.crm.org_check import VALUE_MAPPED, OrgFacts, crm_field_of
from connector.errors import Problem


@dataclass(frozen=True, slots=True)
class Tested:
    owner: str  # "play `x`" or "the policy"
    field: str
    value: str
    path: YamlPath


def _predicate(owner: str, path: YamlPath, spec: Any) -> Iterator[Tested]:
    if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
        return
    values = spec.get("values")
    for i, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, str):
            yield Tested(owner, spec["field"], value, (*path, "values", i))


def tested(plays_doc: YamlDocument) -> Iterator[Tested]:
    data = plays_doc.data if isinstance(plays_doc.data, dict) else {}
    policy = data.get("policy")
    suppression = policy.get("suppression") if isinstance(policy, dict) else None
    rules = suppression.get("exclusions") if isinstance(suppression, dict) else None
    for i, spec in enumerate(rules if isinstance(rules, list) else []):
        yield from _predicate("the policy", ("policy", "suppression", "exclusions", i), spec)
    plays = data.get("plays")
    for n, play in enumerate(plays if isinstance(plays, list) else []):
        if not isinstance(play, dict):
            continue
        owner = f"play `{play.get('name')}`"
        yield from _predicate(owner, ("plays", n, "outcome"), play.get("outcome"))
        exclusions = play.get("exclusions")
        for i, spec in enumerate(exclusions if isinstance(exclusions, list) else []):
            yield from _predicate(owner, ("plays", n, "exclusions", i), spec)


def predicate_problems(
    mapping: MappingConfig, facts: OrgFacts, plays_doc: YamlDocument
) -> Iterator[Problem]:
    """Each compared value that no object's picklist for that segment holds."""
    for t in tested(plays_doc):
        if t.field in VALUE_MAPPED:
            continue
        picklists: list[tuple[str, str, frozenset[str]]] = []
        for obj in mapping.object_names:
            name = crm_field_of(mapping, obj, t.field)
            found = facts.field(obj, name) if name else None
            if found is None:
                continue
            if found.values is None:
                picklists = []  # a text field on some object: any value may match there
                break
            picklists.append((obj, found.name, found.values))
        if not picklists or any(t.value in values for _, _, values in picklists):
            continue
        obj, name, values = picklists[0]
        pos = plays_doc.nearest(t.path)
        yield Problem(
            plays_doc.file,
            pos.line,
            pos.col,
            f"{t.owner} compares {t.field} with `{t.value}`, but no picklist for it has that"
            f" value ({obj}.{name} has: {', '.join(sorted(values))}), so it never matches;"
            " use one of those values (API value, not label)",
        )
