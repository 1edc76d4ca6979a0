"""Phone numbers: E.164 normalisation and the zones a number may ring in.

Consent and contact resolution are keyed by E.164, so every number from a CRM field or a
webhook passes through `to_e164` first; two spellings of one number must be one key."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from connector.domain.zones import area_code_zones


class InvalidPhoneNumber(ValueError):  # noqa: N818 - reads as the condition it reports
    """The text is not a dialable number. The message never repeats the whole number."""


def _masked(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    return f"…{digits[-4:]}" if len(digits) >= 4 else "(too short)"


def to_e164(raw: str, default_region: str = "US") -> str:
    """'(415) 555-0123' -> '+14155550123'; raises InvalidPhoneNumber with the reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty phone number; put a number in the mapped phone field")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        reason = str(exc).partition(") ")[2].rstrip(".")  # its str() is "(code) reason."
        raise InvalidPhoneNumber(
            f"phone number {_masked(text)} cannot be parsed ({reason});"
            " write it with its country code, e.g. +1 415 555 0123"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            f"phone number {_masked(text)} is not a valid number for its region;"
            " check the area code and length"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str | None, default_region: str = "US") -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw, default_region)
    except InvalidPhoneNumber:
        return None


def zones_for(e164: str) -> tuple[str, ...]:
    """Every IANA zone the number's prefix may be in; () when unknown or non-geographic
    (a toll-free number spans every zone, see `zones.area_code_zones`)."""
    return area_code_zones(phonenumbers.parse(e164))


def is_landline(e164: str) -> bool:
    """True only when the numbering plan says fixed line; NANP numbers are ambiguous."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return bool(kind == PhoneNumberType.FIXED_LINE)
