"""Where a recipient may be, and which hours hold there: every zone from every source
(`zones.plausible` over what the CRM mapper stored, plus the number's area code), the US
states, the state rules that apply, and why an instant is closed, in words for the
decision log. The chokepoint (`governance`) calls these in its timing and caps steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from connector.domain.model import ContactState, TimeZones, TzSource
from connector.domain.policy import Policy, UnknownZone
from connector.domain.quiet_hours import Span, ZoneResolution, is_open
from connector.domain.state_rules import StateRule, ZoneHours
from connector.domain.zones import POSTAL_SEGMENT, area_code_state, ordered, plausible


def state_rules_for(zones: ZoneResolution, policy: Policy) -> tuple[StateRule, ...]:
    """The rules of every state the recipient may be in; with no state known, those of
    every state sharing one of the recipient's possible zones (the strictest hold)."""
    states = [code for code, _ in zones.states]
    if states:
        return policy.state_rules.for_states(states)
    return policy.state_rules.for_zones(zones.zones)


def where(zones: ZoneResolution) -> str:
    if not zones.states:
        return zones.describe()
    return f"{zones.describe()}; state {', '.join(f'{c} ({how})' for c, how in zones.states)}"


def why_closed(at: datetime, spans: list[Span], zones: ZoneResolution) -> str:
    """Why `at` is closed, naming the zone, its sources and the window or state rule:
    'outside America/Denver 08:00-21:00 from area_code, state (it is 04:34 there)', or
    'FL allows 08:00-20:00; it is Tue 20:15 in America/New_York'."""
    for zone, hours in spans:
        if is_open(at, zone, hours):
            continue
        local = at.astimezone(zone)
        assert isinstance(hours, ZoneHours)
        if is_open(at, zone, hours.window):
            why = hours.blocking_rule(local)
            if why is not None:
                return why
        sources = ", ".join(s.value for s in zones.sources_of(zone.key))
        return f"outside {zone.key} {hours.window} from {sources} (it is {local:%H:%M} there)"
    return "outside quiet hours"


def resolve(state: ContactState, policy: Policy, phone_zones: tuple[str, ...]) -> ZoneResolution:
    """Every zone the recipient may be in, each with its source: what the CRM mapper
    stored, the number's area code, the mapped state (`policy.region_segment`) and postal
    code. With none, the policy's default zone or, when it holds, unknown. Resolved
    before the timing checks so that a block there still records them."""
    place = plausible(
        known=state.time_zones,
        phone=None,  # the area code's zones come from `number_facts`, already validated
        region=state.segments.get(policy.region_segment),
        postal_code=state.segments.get(POSTAL_SEGMENT),
    )
    pairs = list(place.zones.pairs()) if place.zones else []
    pairs.extend((zone, TzSource.AREA_CODE) for zone in phone_zones)
    states = list(place.states)
    number_state = area_code_state(state.phone) if state.phone else None
    if number_state is not None:
        states.append((number_state, "area_code"))
    found = TimeZones.of(ordered(pairs))
    unique = tuple(dict.fromkeys(states))
    if found is not None:
        resolved = ZoneResolution(found.zones, found.source, found.pairs(), unique)
    elif policy.quiet_hours.unknown_zone is UnknownZone.DEFAULT and policy.quiet_hours.default_zone:
        resolved = ZoneResolution((policy.quiet_hours.default_zone,), TzSource.DEFAULT, (), unique)
    else:
        return ZoneResolution((), None, (), unique)
    rules = tuple(rule.describe() for rule in state_rules_for(resolved, policy))
    return replace(resolved, rules=rules)
