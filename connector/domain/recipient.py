"""Where a recipient may be, and which hours hold there: every zone from every source
(`zones.plausible` over what the CRM mapper stored, plus the number's area code), the US
states, the state rules that apply, and why an instant is closed, in words for the
decision log. The chokepoint (`governance`) calls these in its timing and caps steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from connector.domain.model import ContactState, TimeZones, TzSource
from connector.domain.policy import Policy, UnknownZone
from connector.domain.quiet_hours import Span, Window, ZoneResolution, is_open
from connector.domain.state_rules import StateRule, StateRules, ZoneHours
from connector.domain.zones import POSTAL_SEGMENT, number_facts, ordered, plausible


@lru_cache(maxsize=1024)
def _describe(rule: StateRule) -> str:
    return rule.describe()


def state_rules_for(zones: ZoneResolution, policy: Policy) -> tuple[StateRule, ...]:
    """The rules of every state the recipient may be in; with no state known, those of
    every state sharing one of the recipient's possible zones (the strictest hold)."""
    return _rules_for(zones.states, zones.zones, policy.state_rules)


def _rules_for(
    states: tuple[tuple[str, str], ...], zones: tuple[str, ...], rules: StateRules
) -> tuple[StateRule, ...]:
    if states:
        return rules.for_states([code for code, _ in states])
    return rules.for_zones(zones)


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
    quiet = policy.quiet_hours
    default = quiet.default_zone if quiet.unknown_zone is UnknownZone.DEFAULT else None
    return _resolve(
        state.time_zones,
        state.phone,
        state.segments.get(policy.region_segment),
        state.segments.get(POSTAL_SEGMENT),
        phone_zones,
        default,
        policy.state_rules,
    )


@lru_cache(maxsize=65_536)  # the hot path: the same contact is decided for several plays
def _resolve(  # noqa: PLR0917 - the cache key, spelled out
    known: TimeZones | None,
    phone: str | None,
    region: str | None,
    postal_code: str | None,
    phone_zones: tuple[str, ...],
    default_zone: str | None,
    rules: StateRules,
) -> ZoneResolution:
    place = plausible(known=known, phone=None, region=region, postal_code=postal_code)
    pairs = list(place.zones.pairs()) if place.zones else []
    pairs.extend((zone, TzSource.AREA_CODE) for zone in phone_zones)  # from `number_facts`
    states = list(place.states)
    number_state = number_facts(phone).state if phone else None
    if number_state is not None:
        states.append((number_state, "area_code"))
    found = TimeZones.of(ordered(pairs))
    unique = tuple(dict.fromkeys(states))
    if found is not None:
        resolved = ZoneResolution(found.zones, found.source, found.pairs(), unique)
    elif default_zone:
        resolved = ZoneResolution((default_zone,), TzSource.DEFAULT, (), unique)
    else:
        return ZoneResolution((), None, (), unique)
    applied = _rules_for(resolved.states, resolved.zones, rules)
    return replace(resolved, rules=tuple(_describe(rule) for rule in applied))


def zone_hours(window: Window, rules: tuple[StateRule, ...]) -> ZoneHours:
    return _zone_hours(window, rules)


@lru_cache(maxsize=4096)
def _zone_hours(window: Window, rules: tuple[StateRule, ...]) -> ZoneHours:
    return ZoneHours(window, rules)
