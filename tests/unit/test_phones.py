from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain.phones import InvalidPhoneNumber, to_e164, try_e164, zones_for


@pytest.mark.parametrize(
    "raw",
    ["+14155550123", "(415) 555-0123", "415-555-0123", "+1 415 555 0123", "415.555.0123"],
)
def test_spellings_of_one_number_normalise_to_one_key(raw: str) -> None:
    assert to_e164(raw) == "+14155550123"


@pytest.mark.parametrize("raw", ["", "n/a", "12345", "+1 (111) 222-3333", "555-0100"])
def test_invalid_numbers_raise_without_echoing_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        to_e164(raw)
    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) > 4:
        assert digits not in str(info.value)
    assert try_e164(raw) is None


def test_multi_zone_area_codes() -> None:
    assert zones_for("+19072345678") == ("America/Adak", "America/Anchorage")
    assert zones_for("+14155550123") == ("America/Los_Angeles",)


@given(
    area=st.sampled_from([212, 312, 415, 907, 808, 602]),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
)
def test_formatting_never_changes_the_key(area: int, exchange: int, line: int) -> None:
    e164 = f"+1{area}{exchange}{line:04d}"
    if try_e164(e164) is None:
        return
    for spelling in (f"({area}) {exchange}-{line:04d}", f"{area}.{exchange}.{line:04d}"):
        assert to_e164(spelling) == e164
