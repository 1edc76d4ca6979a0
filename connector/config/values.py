"""Value types shared by every admin file (mapping and plays): each checks one value and
says how to fix it, and `Strict`, the base of every model in those files."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import time, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic_core import PydanticCustomError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Strict(BaseModel):
    """Base of every model in an admin file: read-only, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def validation_context(cls, data: Any) -> dict[str, Any] | None:  # noqa: ARG003
        """What the single-value checks need to know of the whole raw document, passed as
        pydantic's validation context; a file whose checks need nothing returns None."""
        return None


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


def _time_of_day(value: Any) -> time:
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


TimeOfDay = Annotated[
    time,
    BeforeValidator(_time_of_day),
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


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 0:
            return timedelta(0)
        raise fail(f"expected a duration with a unit like '{value}m' or '{value}h', got {value}")
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise fail(f"expected a duration like 30s, 15m, 2h, 3d or 1w, got {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern}),
]
