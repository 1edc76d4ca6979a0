"""Field types of the mapping file: each checks one value and says how to fix it.

Cross-field rules (a rule's name must be in the disposition vocabulary, a task priority
must be one the file's CRM knows) are checked here too, on the value itself, so that the
error points at the exact line and is reported together with every other problem. The
facts they need (the CRM, the vocabulary, the SLA names) are read from the raw document
first and published in `scope` while `MappingConfig` validates; outside that, the
cross-field checks are skipped.
"""

from __future__ import annotations

import difflib
import re
import string
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import time
from functools import cache
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

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
        return cls(crm=crm, vocabulary=vocabulary, sla_names=sla_names)


_SCOPE: ContextVar[Scope | None] = ContextVar("mapping_scope", default=None)


@contextmanager
def scope(value: Scope) -> Iterator[None]:
    token = _SCOPE.set(value)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> Scope | None:
    return _SCOPE.get()


def fail(message: str) -> PydanticCustomError:
    """An error whose message is shown to the admin as written."""
    return PydanticCustomError("smsync", message)


def one_of(value: str, allowed: tuple[str, ...] | list[str]) -> PydanticCustomError:
    same_letters = [a for a in allowed if a.casefold() == value.casefold()]
    hint = same_letters or difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return fail(f"{value!r} is not one of {', '.join(allowed)}{suggestion}")


# --- plain values -----------------------------------------------------------------------

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _api_name(value: str) -> str:
    if not _API_NAME.match(value):
        raise fail(
            f"{value!r} is not a CRM API name; use the field's API name (letters, digits and"
            " underscores, e.g. SMS_Consent_Status__c or smsync_consent_status)"
        )
    return value


ApiName = Annotated[
    str,
    AfterValidator(_api_name),
    WithJsonSchema({"type": "string", "pattern": _API_NAME.pattern}),
]


def _snake(value: str) -> str:
    if not _SNAKE.match(value):
        raise fail(f"{value!r} must be lower_snake_case (e.g. {_suggest_snake(value)!r})")
    return value


def _suggest_snake(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "name"


SnakeName = Annotated[
    str,
    AfterValidator(_snake),
    WithJsonSchema({"type": "string", "pattern": _SNAKE.pattern}),
]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise fail(
            f"regex does not compile: {exc.msg} at position {exc.pos}; fix the pattern"
            " (in YAML, single-quote regexes so backslashes stay as written)"
        ) from None
    return value


Regex = Annotated[str, AfterValidator(_regex), WithJsonSchema({"type": "string"})]


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


def _clock(value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        raise fail(
            f'expected a time in quotes like "17:30", got the number {value}'
            " (unquoted, YAML reads 17:30 as minutes); add the quotes"
        )
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise fail(f'expected a time as "HH:MM" (24-hour), got {value!r}')
    hours, minutes = (int(part) for part in value.split(":"))
    if hours > 23 or minutes > 59:
        raise fail(f"{value!r} is not a time of day; use 00:00 to 23:59")
    return time(hours, minutes)


Clock = Annotated[
    time,
    BeforeValidator(_clock),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}),
]


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _zone(value: str) -> str:
    if value not in _zones():
        hint = difflib.get_close_matches(value, _zones(), n=1, cutoff=0.6)
        suggestion = f"did you mean {hint[0]!r}?" if hint else "use one like 'America/New_York'"
        raise fail(f"{value!r} is not an IANA time zone; {suggestion}")
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone), WithJsonSchema({"type": "string"})]


# --- checks that need the scope -----------------------------------------------------------


def _disposition(value: str) -> str:
    now = current_scope()
    if now is not None and value not in now.vocabulary:
        raise one_of(value, now.vocabulary)
    return value


Disposition = Annotated[SnakeName, AfterValidator(_disposition)]


def _sla_name(value: str) -> str:
    now = current_scope()
    if now is not None and now.sla_names is not None and value not in now.sla_names:
        if not now.sla_names:
            raise fail(f"no SLA policy {value!r}: add it under sla.policies")
        raise one_of(value, sorted(now.sla_names))
    return value


SlaName = Annotated[str, AfterValidator(_sla_name)]


def for_crm(table: dict[str, tuple[str, ...]], what: str) -> Callable[[str], str]:
    """A check that `value` is one of the names the file's CRM knows for `what`."""

    def check(value: str) -> str:
        now = current_scope()
        if now is None or now.crm is None:
            return value
        allowed = table[now.crm]
        if value not in allowed:
            err = one_of(value, allowed)
            raise fail(f"{err.message()} ({what} for crm: {now.crm})")
        return value

    return check


def task_enum(field_name: str) -> Callable[[str], str]:
    return for_crm({crm: enums[field_name] for crm, enums in TASK_ENUMS.items()}, "task")
