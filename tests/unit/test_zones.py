"""Every zone the recipient may be in: the CRM field, the area code, the mapped state and
postal code all count at once, each kept with its source; no source wins alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connector.domain.governance import ContactContext, evaluate
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.domain.policy import QuietHours, UnknownZone
from connector.domain.zones import (
    area_code_state,
    contact_zones,
    iana_zone,
    plausible,
    postal_place,
    state_code,
)
from tests.unit.governance_kit import make_play, play_send, policy_with

PLAY = make_play()
POLICY = policy_with(PLAY)
DENVER, LONDON = "America/Denver", "Europe/London"
COLORADO = "+13035550123"
ALASKA = "+19075550123"
TOLL_FREE = "+18005550123"


def _ctx(
    phone: str, *, field: str | None = None, region: str | None = None, postal: str | None = None
) -> ContactContext:
    segments = {k: v for k, v in (("region", region), ("postal_code", postal)) if v}
    zones = contact_zones(field, phone, "America/New_York", region=region, postal_code=postal)
    state = ContactState(
        ref=CrmRef("Contact", "003000000000001"),
        phone=phone,
        time_zones=zones,
        consent=ConsentStatus.OPTED_IN,
        segments=segments,
    )
    return ContactContext(state, {"first_name": "Ann"})


def test_state_codes_from_codes_and_names_only() -> None:
    assert state_code("CO") == state_code("co") == state_code(" Colorado ") == "CO"
    assert state_code("District of Columbia") == "DC"
    assert state_code("PR") == "PR"
    assert state_code("Ontario") is None
    assert state_code("Colorada") is None  # no phonetic guessing
    assert state_code("") is None


def test_area_code_state_from_the_geocoder() -> None:
    assert area_code_state(COLORADO) == "CO"
    assert area_code_state("+14155550123") == "CA"  # "San Francisco, CA"
    assert area_code_state(ALASKA) == "AK"
    assert area_code_state("+16135550123") is None  # Ontario: not a US state
    assert area_code_state(TOLL_FREE) is None


def test_postal_codes_give_a_zone_and_a_state() -> None:
    assert postal_place("99501") == ("America/Anchorage", "AK")
    assert postal_place("80202-1234") == (DENVER, "CO")
    assert postal_place("SW1A 1AA") == (None, None)
    assert postal_place("00000") == (None, None)


def test_hubspot_zone_spelling_and_junk() -> None:
    assert iana_zone("america_slash_new_york") == "America/New_York"
    assert iana_zone("Europe/London") == LONDON
    assert iana_zone("Mountain Time") is None


def test_colorado_number_with_a_london_crm_zone_keeps_both_with_their_sources() -> None:
    place = plausible(
        known=TimeZones.of([(LONDON, TzSource.CRM_FIELD)]),
        phone=COLORADO,
        region="CO",
        postal_code=None,
    )
    assert place.zones is not None
    assert place.zones.zones == (LONDON, DENVER)
    assert place.zones.sources_of(LONDON) == (TzSource.CRM_FIELD,)
    assert place.zones.sources_of(DENVER) == (TzSource.AREA_CODE, TzSource.STATE)
    assert place.states == (("CO", "region"), ("CO", "area_code"))


def test_a_state_spans_its_zones_unless_a_zip_in_it_pins_one() -> None:
    miami = "+13055550123"
    state_only = plausible(known=None, phone=miami, region="FL", postal_code=None)
    assert state_only.zones is not None
    assert state_only.zones.zones == ("America/New_York", "America/Chicago")
    pinned = plausible(known=None, phone=miami, region="Florida", postal_code="32501")
    assert pinned.zones is not None  # Pensacola: Central time, and the Miami number: Eastern
    assert pinned.zones.pairs() == (
        ("America/New_York", TzSource.AREA_CODE),
        ("America/Chicago", TzSource.POSTAL_CODE),
    )
    assert pinned.states == (("FL", "region"), ("FL", "postal_code"), ("FL", "area_code"))


def test_toll_free_numbers_fall_back_to_other_sources() -> None:
    only_number = contact_zones(None, TOLL_FREE, "America/New_York")
    assert only_number == TimeZones(("America/New_York",), TzSource.DEFAULT)  # not 42 zones
    with_state = contact_zones(None, TOLL_FREE, "America/New_York", region="Alaska")
    assert with_state.zones == ("America/Anchorage", "America/Adak")
    assert set(with_state.sources_of("America/Adak")) == {TzSource.STATE}


def test_a_stored_default_is_no_evidence_and_the_policy_decides() -> None:
    ctx = _ctx(TOLL_FREE)
    assert ctx.state.time_zones is not None
    assert ctx.state.time_zones.source is TzSource.DEFAULT
    at = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    held = replace(POLICY, quiet_hours=QuietHours(unknown_zone=UnknownZone.HOLD))
    result = evaluate(play_send(PLAY, at), ctx, held, at)
    assert [r.code for r in result.reasons] == ["unknown_zone"]


@pytest.mark.parametrize(
    ("at", "expected", "why"),
    [
        # 04:34 MST (11:34 in London): held until 08:00 in Denver, when London is still open
        (
            datetime(2026, 3, 3, 11, 34, tzinfo=UTC),
            datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
            "outside America/Denver 08:00-21:00 from area_code, state (it is 04:34 there)",
        ),
        # 14:30 MST is 21:30 in London: held until both are open, 08:00 next day in Denver
        (
            datetime(2026, 3, 3, 21, 30, tzinfo=UTC),
            datetime(2026, 3, 4, 15, 0, tzinfo=UTC),
            "outside Europe/London 08:00-21:00 from crm_field (it is 21:30 there)",
        ),
    ],
)
def test_colorado_case_held_until_every_zone_is_open(
    at: datetime, expected: datetime, why: str
) -> None:
    ctx = _ctx(COLORADO, field=LONDON, region="CO")
    result = evaluate(play_send(PLAY, at), ctx, POLICY, at)
    assert result.send_at == expected
    assert result.zones is not None
    assert result.zones.describe() == "Europe/London (crm_field), America/Denver (area_code, state)"
    [reason] = result.reasons
    assert reason.code == "quiet_hours"
    assert reason.detail.startswith(why)


def test_alaska_case_held_until_adak_and_anchorage_are_open() -> None:
    at = datetime(2026, 3, 3, 11, 58, tzinfo=UTC)  # 02:58 AKST, 01:58 in Adak
    result = evaluate(play_send(PLAY, at), _ctx(ALASKA), POLICY, at)
    assert result.send_at == datetime(2026, 3, 3, 18, 0, tzinfo=UTC)  # 08:00 Adak, 09:00 AKST
    assert result.reasons[0].detail.startswith(
        "outside America/Adak 08:00-21:00 from area_code (it is 01:58 there)"
    )
    assert result.zones is not None
    assert result.zones.states == (("AK", "area_code"),)
