"""The values a play's template can use for one contact: the canonical fields, the mapped
segments, and the built-in tokens (`templates.BUILTIN_TOKENS`) derived from them.

Built-ins come from segments of the same canonical name (the mapping maps `first_name`,
`company`, `meeting_time`, `renewal_date` to CRM fields; the pull adds `owner_name` and
`owner_first_name` from the CRM's user directory). Date tokens are written for people, in
the recipient's zone: a meeting at 20:00Z is "3:00 PM EST" to a New Yorker, never an ISO
string. A value that is missing stays missing, so a required token blocks the send."""

from __future__ import annotations

from connector.domain.governance import number_facts
from connector.domain.instants import (
    calendar_date,
    is_date_only,
    local_date,
    local_time,
    parse_instant,
)
from connector.domain.model import ContactState
from connector.domain.quiet_hours import resolve_zones, zone_info

MEETING = "meeting_time"  # segment: the booked meeting's start (a date-time)
RENEWAL = "renewal_date"  # segment: the renewal day (a date)
FALLBACK_ZONE = "UTC"


def recipient_zone(state: ContactState, default_zone: str | None) -> str:
    """The first zone the chokepoint would check: CRM field, area code, then the default."""
    phone_zones = number_facts(state.phone).zones if state.phone else ()
    zones = resolve_zones(state.time_zones, phone_zones, default_zone).zones
    return zones[0] if zones else FALLBACK_ZONE


def _clean(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def token_values(state: ContactState, default_zone: str | None = None) -> dict[str, str | None]:
    """Canonical fields, segments and built-ins by canonical name, for templates and
    predicates. Raw segment values stay under their own name unless a built-in renders it."""
    values: dict[str, str | None] = {
        "lifecycle_stage": state.lifecycle_stage,
        "journey_state": state.journey_state,
        "active_motion": state.active_motion,
        "disposition": state.disposition,
        "owner_team": state.owner_team,
        "owner": state.owner_id,
        "owner_id": state.owner_id,
    }
    values.update(state.segments)
    seg = state.segments
    first, last = _clean(seg.get("first_name")), _clean(seg.get("last_name"))
    values["first_name"], values["last_name"] = first, last
    full = " ".join(p for p in (first, last) if p)
    values["full_name"] = _clean(seg.get("full_name")) or full or None
    owner = _clean(seg.get("owner_name"))
    values["owner_name"] = owner
    values["owner_first_name"] = _clean(seg.get("owner_first_name")) or (
        owner.split()[0] if owner else None
    )
    meeting_raw = seg.get(MEETING)
    meeting = parse_instant(meeting_raw)
    if meeting is not None and not is_date_only(meeting_raw):
        zone = zone_info(recipient_zone(state, default_zone))
        values[MEETING] = local_time(meeting, zone)
        values["meeting_date"] = local_date(meeting, zone)
    else:
        values[MEETING] = None
        values["meeting_date"] = calendar_date(meeting_raw) if meeting_raw else None
    renewal_raw = _clean(seg.get(RENEWAL))
    values[RENEWAL] = calendar_date(renewal_raw) if renewal_raw else None
    return values
