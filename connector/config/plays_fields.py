"""The plays file checked against the mapping, offline: every field a play names is one the
mapping maps, and every value it waits for or tests is one the mapping's value maps know.

A play that names `webinar_stat` (a typo) or waits for `marketing_qualified` (a stage no
picklist value maps to) validates as YAML yet can never fire; these checks catch that
before anything runs. They walk the raw document, so every problem in the file is
reported together with the schema's, each located at the offending value and with the
closest valid name suggested ("did you mean `webinar_status`?").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from connector.config.mapping_schema import MappingConfig
from connector.config.yaml_source import YamlDocument, YamlPath, format_path
from connector.errors import Problem

# canonical fields whose CRM values are translated by a value map of the same name
VALUE_MAPPED = (
    "lifecycle_stage",
    "journey_state",
    "consent_status",
    "consent_source",
    "disposition",
)
_CONSENT_VALUES = ("opted_in", "opted_out", "unknown")
# triggers that read a segment of a fixed name: (trigger, segment, why)
_NEEDS_SEGMENT = {
    "inactive_days": ("last_activity", "the date of the last activity"),
    "form_submitted": ("form_submitted_at", "when a form was last submitted"),
}
MEETING_BOOKED = "meeting_booked"


def mapped_fields(mapping: MappingConfig) -> frozenset[str]:
    """Canonical names the mapping gives a CRM field for, on any object."""
    names: set[str] = set()
    maps = [mapping.fields, *(mapping.field_map(name) for name in mapping.object_names)]
    for field_map in maps:
        names.update(k for k, v in field_map if k != "segments" and v is not None)
        names.update(field_map.segments)
    return frozenset(names)


def mapped_segments(mapping: MappingConfig) -> frozenset[str]:
    names: set[str] = set(mapping.fields.segments)
    for name in mapping.object_names:
        names.update(mapping.field_map(name).segments)
    return frozenset(names)


def known_values(mapping: MappingConfig, field: str) -> tuple[str, ...] | None:
    """The canonical values a value-mapped field can take, or None when any value goes."""
    if field not in VALUE_MAPPED:
        return None
    values = dict.fromkeys(getattr(mapping.value_maps, field).values())
    if field == "consent_status":
        values.update(dict.fromkeys(_CONSENT_VALUES))
    if field == "disposition":
        values.update(dict.fromkeys(mapping.dispositions.vocabulary))
    return tuple(values)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The most similar choice (rapidfuzz), if any is close enough to be a likely typo."""
    options = sorted(set(choices))
    if not options:
        return None
    found = process.extractOne(name, options, scorer=fuzz.WRatio, score_cutoff=70)
    return None if found is None else str(found[0])


def suggestion(name: str, choices: Iterable[str]) -> str:
    """'; did you mean `x`?' or '' when nothing is close."""
    hint = closest(name, choices)
    return f"; did you mean `{hint}`?" if hint else ""


@dataclass(frozen=True, slots=True)
class _Checker:
    doc: YamlDocument
    mapping: MappingConfig
    fields: frozenset[str]
    segments: frozenset[str]

    def at(self, path: YamlPath, message: str, *, key: bool = False) -> Problem:
        pos = self.doc.nearest(path, prefer_key=key)
        return Problem(self.doc.file, pos.line, pos.col, f"{format_path(path)}: {message}")

    def field(self, path: YamlPath, name: Any, what: str) -> Iterator[Problem]:
        if not isinstance(name, str) or name in self.fields:
            return
        hint = suggestion(name, self.fields)
        listed = "" if hint else f" (mapped: {', '.join(sorted(self.fields))})"
        yield self.at(
            path,
            f"{what} `{name}` is not a field the mapping maps{hint}{listed}; map it under"
            " `fields` or `fields.segments`, or fix the name",
        )

    def value(self, path: YamlPath, field: Any, value: Any) -> Iterator[Problem]:
        if not isinstance(field, str) or not isinstance(value, str):
            return
        known = known_values(self.mapping, field)
        if known is None or value in known:
            return
        yield self.at(
            path,
            f"`{value}` is not a {field} value: no CRM value maps to it in"
            f" value_maps.{field}{suggestion(value, known)} (known: {', '.join(known)});"
            f" add a `CrmValue: {value}` entry there, or fix the value",
        )

    def predicate(self, path: YamlPath, spec: Any, what: str) -> Iterator[Problem]:
        if not isinstance(spec, dict):
            return
        name = spec.get("field")
        yield from self.field((*path, "field"), name, what)
        values = spec.get("values")
        if name in self.fields and isinstance(values, list):
            for i, item in enumerate(values):
                yield from self.value((*path, "values", i), name, item)

    def trigger(self, path: YamlPath, trigger: Any) -> Iterator[Problem]:
        if not isinstance(trigger, dict):
            return
        change = trigger.get("field_changed")
        if isinstance(change, dict):
            here = (*path, "field_changed")
            name = change.get("field")
            yield from self.field((*here, "field"), name, "trigger field")
            if name in self.fields:
                for end in ("from", "to"):
                    yield from self.value((*here, end), name, change.get(end))
        stage = trigger.get("stage_entered")
        if isinstance(stage, str):
            here = (*path, "stage_entered")
            if "lifecycle_stage" not in self.fields:
                yield self.at(
                    here, "stage_entered needs `lifecycle_stage` mapped; map it under `fields`"
                )
            else:
                yield from self.value(here, "lifecycle_stage", stage)
        elif isinstance(stage, dict):
            here = (*path, "stage_entered")
            name = stage.get("field")
            yield from self.field((*here, "field"), name, "stage field")
            if name in self.fields:
                yield from self.value((*here, "stage"), name, stage.get("stage"))
        yield from self.needs(path, trigger)

    def needs(self, path: YamlPath, trigger: dict[str, Any]) -> Iterator[Problem]:
        """Triggers that read a particular segment or journey value the mapping must have."""
        dated = trigger.get("date_approaching")
        if isinstance(dated, dict):
            name = dated.get("field")
            if isinstance(name, str) and name not in self.segments:
                yield self.at(
                    (*path, "date_approaching", "field"),
                    f"date field `{name}` is not a segment the mapping maps"
                    f"{suggestion(name, self.segments)}; map it under `fields.segments`",
                )
        if trigger.get("meeting_booked") is True:
            known = known_values(self.mapping, "journey_state") or ()
            if MEETING_BOOKED not in known:
                yield self.at(
                    (*path, "meeting_booked"),
                    "meeting_booked fires when the journey reaches `meeting_booked`, but no"
                    " CRM value maps to it; add `CrmValue: meeting_booked` under"
                    " value_maps.journey_state",
                )
        for kind, (segment, why) in _NEEDS_SEGMENT.items():
            if trigger.get(kind) is not None and segment not in self.segments:
                yield self.at(
                    (*path, kind),
                    f"{kind} reads the `{segment}` segment ({why}), which the mapping does not"
                    f" map; add `{segment}: <CRM field>` under `fields.segments`",
                )

    def outcome(self, path: YamlPath, outcome: Any) -> Iterator[Problem]:
        if not isinstance(outcome, dict):
            return
        disposition = outcome.get("disposition")
        vocabulary = self.mapping.dispositions.vocabulary
        if isinstance(disposition, str) and disposition not in vocabulary:
            yield self.at(
                (*path, "disposition"),
                f"`{disposition}` is not a disposition of the mapping"
                f"{suggestion(disposition, vocabulary)} (vocabulary: {', '.join(vocabulary)})",
            )
        if "field" in outcome:
            yield from self.predicate(path, outcome, "outcome field")

    def play(self, index: int, play: Any) -> Iterator[Problem]:
        if not isinstance(play, dict):
            return
        path: YamlPath = ("plays", index)
        yield from self.trigger((*path, "trigger"), play.get("trigger"))
        yield from self.outcome((*path, "outcome"), play.get("outcome"))
        exclusions = play.get("exclusions")
        if isinstance(exclusions, list):
            for i, spec in enumerate(exclusions):
                yield from self.predicate((*path, "exclusions", i), spec, "exclusion field")

    def policy(self, policy: Any) -> Iterator[Problem]:
        if not isinstance(policy, dict):
            return
        region = policy.get("region_segment")
        if isinstance(region, str) and region not in self.segments:
            yield self.at(
                ("policy", "region_segment"),
                f"region segment `{region}` is not a segment the mapping maps"
                f"{suggestion(region, self.segments)}; map it under `fields.segments`",
            )
        suppression = policy.get("suppression")
        exclusions = suppression.get("exclusions") if isinstance(suppression, dict) else None
        if isinstance(exclusions, list):
            for i, spec in enumerate(exclusions):
                path: YamlPath = ("policy", "suppression", "exclusions", i)
                yield from self.predicate(path, spec, "exclusion field")


def field_problems(doc: YamlDocument, mapping: MappingConfig) -> list[Problem]:
    """Every field and value the plays file names that the mapping does not know."""
    data: Mapping[str, Any] = doc.data if isinstance(doc.data, dict) else {}
    checker = _Checker(doc, mapping, mapped_fields(mapping), mapped_segments(mapping))
    problems = list(checker.policy(data.get("policy")))
    plays = data.get("plays")
    if isinstance(plays, list):
        for index, play in enumerate(plays):
            problems.extend(checker.play(index, play))
    return problems
