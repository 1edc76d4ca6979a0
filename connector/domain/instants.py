"""Date and date-time values as CRMs hand them over, read as instants, and written back for
people in the recipient's own time zone.

Salesforce says ``2026-11-23T15:00:00.000+0000``, HubSpot ``2026-11-23T15:00:00.000Z`` or
epoch milliseconds, and date fields (a renewal date, Salesforce's LastActivityDate) carry
no time at all. A date is read as midnight UTC of that day: plays measure days ahead of it,
and the chokepoint still places the text inside the recipient's local window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

_EPOCH_MS_DIGITS = 11  # epoch milliseconds have at least 11 digits since 1973


def parse_instant(value: str | None) -> datetime | None:
    """An aware datetime, or None for an empty or unreadable value (never raises: a CRM
    value a play cannot read means the play does not fire, not a failed pull)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit() and len(text) >= _EPOCH_MS_DIGITS:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        if len(text) == len("2026-11-23"):
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def is_date_only(value: str | None) -> bool:
    return bool(value) and len((value or "").strip()) == len("2026-11-23")


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """``3:00 PM EST``: the zone's abbreviation keeps a guessed zone honest."""
    local = at.astimezone(zone)
    return f"{local.strftime('%I:%M %p').lstrip('0')} {local.tzname()}"


def local_date(at: datetime, zone: ZoneInfo) -> str:
    """``Tuesday, November 24``: the day a person reads, in their own zone."""
    local = at.astimezone(zone)
    return f"{local.strftime('%A, %B')} {local.day}"


def calendar_date(value: str) -> str | None:
    """``January 15, 2027`` for a date-only value (no zone applies to a calendar day)."""
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return f"{day.strftime('%B')} {day.day}, {day.year}"
