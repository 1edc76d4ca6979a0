"""Every zone a recipient may be in, and the US states they may be in, from every source
at once: the CRM's time-zone field, the number's area code, the mapped state and the
mapped postal code. Quiet hours must hold in each of them, so no source wins alone: a
Colorado number whose CRM field says Europe/London is checked in London and in Denver.

Offline data only: phonenumbers (area code -> zones; its geocoder's US states, as the
generated table `nanp_states.AREA_CODE_STATES`, since the geocoder itself costs ~100 MB),
`us` (state -> zones) and `zipcodes` (ZIP -> zone and state), all bundled in their wheels.

A non-geographic number (toll-free, premium, personal, VoIP: phonenumbers'
`is_number_geographical` is false) says nothing about where its owner is: phonenumbers
gives a toll-free +1 800 number all 42 NANP zones, and requiring every one of them to be
open would freeze every send. Such a number adds its zones only when its prefix names
exactly one zone (a UK mobile: Europe/London); otherwise the other sources, or the
policy's unknown-zone rule, decide."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import us
import zipcodes
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType
from phonenumbers import timezone as pn_timezone

from connector.domain.model import TimeZones, TzSource, ZoneOrigin
from connector.domain.nanp_states import AREA_CODE_STATES

UNKNOWN_ZONE = "Etc/Unknown"
REGION_SEGMENT = "region"  # the policy's default region segment: a state, by code or name
POSTAL_SEGMENT = "postal_code"  # a segment with a meaning: the contact's postal code
_ZIP = re.compile(r"^\s*(\d{5})(?:[-\s]?\d{4})?\s*$")  # 80202, 80202-1234


def _states() -> dict[str, us.states.State]:
    found = {s.abbr: s for s in us.states.STATES_AND_TERRITORIES}
    found.setdefault(us.states.DC.abbr, us.states.DC)
    return found


_BY_ABBR = _states()
_BY_NAME = {s.name.lower(): s.abbr for s in _BY_ABBR.values()}


@lru_cache(maxsize=4096)
def state_code(value: str | None) -> str | None:
    """'CO', 'co', 'Colorado' -> 'CO'; None for anything that is not a US state or
    territory (a Canadian province, a typo). Exact names only: no phonetic guessing."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) == 2:
        return text.upper() if text.upper() in _BY_ABBR else None
    return _BY_NAME.get(text.lower())


@lru_cache(maxsize=1024)
def iana_zone(value: str | None) -> str | None:
    """A CRM's time-zone value as an IANA name, or None when it is not one. Accepts
    HubSpot's internal spelling ('america_slash_new_york')."""
    text = (value or "").strip()
    if "_slash_" in text:
        text = "/".join(
            "_".join(w.capitalize() for w in part.split("_")) for part in text.split("_slash_")
        )
    if not text:
        return None
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return text


def is_state(code: str) -> bool:
    return code in _BY_ABBR


def all_states() -> tuple[str, ...]:
    return tuple(sorted(_BY_ABBR))


@lru_cache(maxsize=128)
def state_zones(code: str) -> tuple[str, ...]:
    """The IANA zones a state spans (FL: New York and Chicago); () when unknown."""
    state = _BY_ABBR.get(code)
    return tuple(state.time_zones) if state is not None else ()


@lru_cache(maxsize=4096)
def postal_place(value: str | None) -> tuple[str | None, str | None]:
    """A US ZIP (or ZIP+4) -> (its zone, its state); (None, None) when not a known ZIP."""
    match = _ZIP.match(value or "")
    if match is None:
        return None, None
    try:
        found = zipcodes.matching(match.group(1))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return None, None
    if not found:
        return None, None
    zone = found[0].get("timezone") or None
    state = state_code(found[0].get("state"))
    return (str(zone) if zone else None), state


def _parsed(e164: str) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except NumberParseException:
        return None


def area_code_zones(parsed: PhoneNumber, kind: int | None = None) -> tuple[str, ...]:
    """The zones the number's prefix may ring in, minus the useless spans of
    non-geographic numbers (see the module docstring). `kind`: its number type, if known."""
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != UNKNOWN_ZONE)
    if len(zones) > 1 and not _geographic(parsed, kind):
        return ()
    return zones


def _geographic(parsed: PhoneNumber, kind: int | None) -> bool:
    found = phonenumbers.number_type(parsed) if kind is None else kind
    return bool(phonenumbers.is_number_type_geographical(found, parsed.country_code or 0))


def _area_state(parsed: PhoneNumber, kind: int | None = None) -> str | None:
    if parsed.country_code != 1 or not _geographic(parsed, kind):
        return None
    return AREA_CODE_STATES.get(str(parsed.national_number)[:3])


def area_code_state(e164: str) -> str | None:
    """The US state the number's area code belongs to (phonenumbers' geocoder, through
    `AREA_CODE_STATES`); None outside the US, for non-geographic or invalid numbers."""
    return number_facts(e164).state


@dataclass(frozen=True, slots=True)
class NumberFacts:
    valid: bool
    landline: bool
    zones: tuple[str, ...]
    state: str | None = None  # the US state of its area code


@lru_cache(maxsize=131_072)
def number_facts(phone: str) -> NumberFacts:
    """What the numbering plan says about a number, worked out once (number types are
    costly) and cached, as it never changes."""
    parsed = _parsed(phone)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return NumberFacts(valid=False, landline=False, zones=())
    kind = phonenumbers.number_type(parsed)
    return NumberFacts(
        valid=True,
        landline=kind == PhoneNumberType.FIXED_LINE,
        zones=area_code_zones(parsed, kind),
        state=_area_state(parsed, kind),
    )


@dataclass(frozen=True, slots=True)
class Place:
    """Where the recipient may be: each zone with its source, and each US state with
    where it came from ('region', 'postal_code', 'area_code')."""

    zones: TimeZones | None
    states: tuple[tuple[str, str], ...]

    def state_codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(code for code, _ in self.states))


def plausible(
    *,
    known: TimeZones | None,
    phone: str | None,
    region: str | None,
    postal_code: str | None,
) -> Place:
    """Every zone and state the sources name. `known` is what the CRM mapper stored (its
    DEFAULT guess is dropped: a default is no evidence); `region` is the mapped state. A
    state spanning two zones (FL, TX) adds both, unless a postal code in that state pins
    which one: the address is one fact, the ZIP its precise part."""
    pairs: list[ZoneOrigin] = []
    if known is not None:
        pairs.extend(p for p in known.pairs() if p[1] is not TzSource.DEFAULT)
    states: list[tuple[str, str]] = []
    parsed = _parsed(phone) if phone else None
    if parsed is not None and phone is not None:
        pairs.extend((z, TzSource.AREA_CODE) for z in area_code_zones(parsed))
    region_state = state_code(region)
    zip_zone, zip_state = postal_place(postal_code)
    if region_state is not None:
        states.append((region_state, "region"))
        if not (zip_zone and zip_state == region_state):  # the ZIP pins the state's zone
            pairs.extend((z, TzSource.STATE) for z in state_zones(region_state))
    if zip_zone is not None:
        pairs.append((zip_zone, TzSource.POSTAL_CODE))
    if zip_state is not None:
        states.append((zip_state, "postal_code"))
    number_state = number_facts(phone).state if phone else None
    if number_state is not None:
        states.append((number_state, "area_code"))
    return Place(TimeZones.of(ordered(pairs)), tuple(dict.fromkeys(states)))


_RANK = {source: i for i, source in enumerate(TzSource)}


def ordered(pairs: Iterable[ZoneOrigin]) -> list[ZoneOrigin]:
    """CRM field first (tokens render a meeting time in the first zone), then the rest."""
    return sorted(pairs, key=lambda p: _RANK[p[1]])


def contact_zones(
    field_zone: str | None,
    phone: str | None,
    default_zone: str,
    *,
    region: str | None = None,
    postal_code: str | None = None,
) -> TimeZones:
    """What a CRM mapper stores: every zone the record's own facts name (its zone field,
    the number, the `region` and `postal_code` segments), else the configured default."""
    zone = iana_zone(field_zone)
    known = TimeZones.of([(zone, TzSource.CRM_FIELD)]) if zone else None
    found = plausible(known=known, phone=phone, region=region, postal_code=postal_code).zones
    return found or TimeZones((default_zone,), TzSource.DEFAULT)
