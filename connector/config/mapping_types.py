"""Field types of the mapping file that depend on the CRM or on the rest of the file.

Cross-field rules (a rule's name must be in the disposition vocabulary, a task priority
must be one the file's CRM knows) are checked here too, on the value itself, so that the
error points at the exact line and is reported together with every other problem. The
facts they need (the CRM, the vocabulary, the SLA names) are read from the raw document
first (`Scope.from_raw`) and passed as pydantic's validation context
(`MappingConfig.validation_context`); validated without it, the cross-field checks are
skipped.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, ValidationInfo, WithJsonSchema

from connector.config.values import SnakeName, fail, one_of

CrmName = Literal["salesforce", "hubspot"]

DEFAULT_VOCABULARY: Final = (
    "interested",
    "confirmed",
    "reschedule_requested",
    "pricing_question",
    "not_now",
    "wrong_number",
    "opted_out",
    "help",
    "unclassified",
)
# The built-in compliance classifier (STOP/HELP) and the fallback produce these.
REQUIRED_DISPOSITIONS: Final = ("opted_out", "help", "unclassified")

TEMPLATE_PLACEHOLDERS: Final = (
    "contact_name",
    "phone_masked",
    "body",
    "disposition",
    "due",
    "owner_name",
    "play",
    "sla_kind",
    # the rep's view (issue 15): who, the gist, the thread and the due time in their zone
    "name",
    "gist",
    "phone",
    "conversation",
    "rule",
    "talk_track",
    "due_local",
    "sla_words",
    # ', answering play "speed_to_lead"', or nothing when no play texted the number
    "answering",
)

# What each CRM accepts, so a typo is caught offline rather than by a failed write.
CONTACT_OBJECTS: Final[dict[str, tuple[str, ...]]] = {
    "salesforce": ("Lead", "Contact"),
    "hubspot": ("contacts",),
}
ACTIVITY_OBJECTS: Final[dict[str, tuple[str, ...]]] = {
    "salesforce": ("Task",),
    "hubspot": ("communications",),
}
TASK_OBJECTS: Final[dict[str, tuple[str, ...]]] = {"salesforce": ("Task",), "hubspot": ("tasks",)}
SalesforceTaskPriority = Literal["High", "Normal", "Low"]
SalesforceTaskType = Literal["Call", "Email", "Meeting", "Other"]
SalesforceTaskStatus = Literal[
    "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"
]
HubSpotTaskPriority = Literal["LOW", "MEDIUM", "HIGH"]
HubSpotTaskType = Literal["TODO", "CALL", "EMAIL"]
HubSpotTaskStatus = Literal["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
TASK_ENUMS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "salesforce": {
        "priority": get_args(SalesforceTaskPriority),
        "type": get_args(SalesforceTaskType),
        "status": get_args(SalesforceTaskStatus),
    },
    "hubspot": {
        "priority": get_args(HubSpotTaskPriority),
        "type": get_args(HubSpotTaskType),
        "status": get_args(HubSpotTaskStatus),
    },
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Facts from the raw document that single-value checks need."""

    crm: str | None
    vocabulary: tuple[str, ...]
    sla_names: frozenset[str] | None
    journeys: tuple[str, ...] | None = None  # canonical values of value_maps.journey_state
    stages: tuple[str, ...] | None = None  # canonical values of value_maps.lifecycle_stage

    @classmethod
    def from_raw(cls, data: Any) -> Scope:
        """Read leniently: a broken section is reported on its own, so just skip its checks."""
        raw = data if isinstance(data, dict) else {}
        crm = raw.get("crm") if raw.get("crm") in CONTACT_OBJECTS else None
        vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY
        dispositions = raw.get("dispositions")
        if isinstance(dispositions, dict):
            listed = dispositions.get("vocabulary")
            if isinstance(listed, list) and all(isinstance(v, str) for v in listed):
                vocabulary = tuple(listed)
        sla = raw.get("sla")
        policies = sla.get("policies", {}) if isinstance(sla, dict) else None
        sla_names: frozenset[str] | None = None  # None: the section is broken, skip the check
        if sla is None:
            sla_names = frozenset()
        elif isinstance(policies, dict):
            sla_names = frozenset(policies)
        maps = raw.get("value_maps")
        return cls(
            crm=crm,
            vocabulary=vocabulary,
            sla_names=sla_names,
            journeys=_canonical_values(maps, "journey_state"),
            stages=_canonical_values(maps, "lifecycle_stage"),
        )


def _canonical_values(maps: Any, kind: str) -> tuple[str, ...] | None:
    found = maps.get(kind) if isinstance(maps, dict) else None
    if not isinstance(found, dict):
        return None
    return tuple(dict.fromkeys(str(v) for v in found.values()))


SCOPE_KEY: Final = "mapping_scope"


def scope_of(info: ValidationInfo) -> Scope | None:
    """The file's facts, when the validation was given them (see `Scope`)."""
    context = info.context
    found = context.get(SCOPE_KEY) if isinstance(context, Mapping) else None
    return found if isinstance(found, Scope) else None


def _template(value: str) -> str:
    tpl = string.Template(value)
    complaints = []
    unknown = [name for name in tpl.get_identifiers() if name not in TEMPLATE_PLACEHOLDERS]
    if unknown:
        parts = []
        for name in unknown:
            hint = difflib.get_close_matches(name, TEMPLATE_PLACEHOLDERS, n=1, cutoff=0.6)
            parts.append(f"${name}" + (f" (did you mean ${hint[0]}?)" if hint else ""))
        complaints.append(
            f"unknown placeholder {', '.join(parts)}; use only "
            + ", ".join(f"${p}" for p in TEMPLATE_PLACEHOLDERS)
        )
    if not tpl.is_valid():
        complaints.append(
            "a '$' is not followed by a name; write $$ for a literal dollar sign,"
            " or ${name} for a placeholder"
        )
    if complaints:
        raise fail("; and ".join(complaints))
    return value


Template = Annotated[
    str,
    AfterValidator(_template),
    WithJsonSchema(
        {
            "type": "string",
            "description": "string.Template text; placeholders: "
            + ", ".join(f"${p}" for p in TEMPLATE_PLACEHOLDERS),
        }
    ),
]


def _disposition(value: str, info: ValidationInfo) -> str:
    now = scope_of(info)
    if now is not None and value not in now.vocabulary:
        raise one_of(value, now.vocabulary)
    return value


Disposition = Annotated[SnakeName, AfterValidator(_disposition)]


def _sla_name(value: str, info: ValidationInfo) -> str:
    now = scope_of(info)
    if now is not None and now.sla_names is not None and value not in now.sla_names:
        if not now.sla_names:
            raise fail(f"no SLA policy {value!r}: add it under sla.policies")
        raise one_of(value, sorted(now.sla_names))
    return value


SlaName = Annotated[str, AfterValidator(_sla_name)]


def _journey(value: str, info: ValidationInfo) -> str:
    now = scope_of(info)
    if now is not None and now.journeys is not None and value not in now.journeys:
        err = one_of(value, now.journeys)
        raise fail(f"{err.message()} (a canonical value of value_maps.journey_state)")
    return value


JourneyState = Annotated[SnakeName, AfterValidator(_journey)]


def _stage(value: str, info: ValidationInfo) -> str:
    now = scope_of(info)
    if now is not None and now.stages is not None and value not in now.stages:
        err = one_of(value, now.stages)
        raise fail(f"{err.message()} (a canonical value of value_maps.lifecycle_stage)")
    return value


LifecycleStage = Annotated[SnakeName, AfterValidator(_stage)]


def for_crm(table: dict[str, tuple[str, ...]], what: str) -> Callable[[str, ValidationInfo], str]:
    """A check that `value` is one of the names the file's CRM knows for `what`."""

    def check(value: str, info: ValidationInfo) -> str:
        now = scope_of(info)
        if now is None or now.crm is None:
            return value
        allowed = table[now.crm]
        if value not in allowed:
            err = one_of(value, allowed)
            raise fail(f"{err.message()} ({what} for crm: {now.crm})")
        return value

    return check


def task_enum(field_name: str) -> Callable[[str, ValidationInfo], str]:
    return for_crm({crm: enums[field_name] for crm, enums in TASK_ENUMS.items()}, "task")
