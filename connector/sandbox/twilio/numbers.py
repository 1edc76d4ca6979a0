"""What the phone network knows about a number: is it dialable, a landline, reachable.

`phonenumbers` decides validity, as Twilio's own lookup would; it cannot tell a US
landline from a mobile (NANP numbers are FIXED_LINE_OR_MOBILE), so landlines and
unreachable handsets are whatever the seed data or the admin API registered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char)
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

FailStatus = Literal["undelivered", "failed"]
# the carrier errors a handset can produce, with the status Twilio reports for each
CARRIER_ERRORS: dict[int, str] = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}


def normalize(raw: str) -> str | None:
    """E.164 for anything dialable (US numbers may come without +1), else None."""
    text = raw.strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def segments(body: str) -> int:
    """SMS segments billed for `body`: GSM-7 160/153 per segment, else UCS-2 70/67."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        septets = len(body) + sum(1 for ch in body if ch in _GSM_EXTENDED)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A handset the carrier cannot reach: the message ends `status` with `error_code`."""

    status: FailStatus
    error_code: int

    @property
    def error_message(self) -> str:
        return CARRIER_ERRORS.get(self.error_code, "Unknown error")


NumberKind = Literal["mobile", "landline", "invalid", "unreachable"]


class NumberBook:
    """Per-number registrations, consulted on every send."""

    def __init__(self) -> None:
        self.landlines: set[str] = set()
        self.invalid: set[str] = set()
        self.unreachable: dict[str, Unreachable] = {}

    def clear(self) -> None:
        self.landlines.clear()
        self.invalid.clear()
        self.unreachable.clear()

    def register(
        self,
        number: str,
        kind: NumberKind,
        *,
        status: FailStatus = "undelivered",
        error_code: int = 30003,
    ) -> str:
        """Classify `number` (any format); returns the key it is stored under."""
        key = normalize(number) or number.strip()
        self.landlines.discard(key)
        self.invalid.discard(key)
        self.unreachable.pop(key, None)
        if kind == "landline":
            self.landlines.add(key)
        elif kind == "invalid":
            self.invalid.add(key)
        elif kind == "unreachable":
            self.unreachable[key] = Unreachable(status, error_code)
        return key

    def is_landline(self, e164: str) -> bool:
        if e164 in self.landlines:
            return True
        parsed = phonenumbers.parse(e164, None)
        return phonenumbers.number_type(parsed) == PhoneNumberType.FIXED_LINE

    def is_invalid(self, e164: str) -> bool:
        return e164 in self.invalid

    def snapshot(self) -> dict[str, object]:
        return {
            "landlines": sorted(self.landlines),
            "invalid": sorted(self.invalid),
            "unreachable": {
                n: {"status": u.status, "error_code": u.error_code}
                for n, u in sorted(self.unreachable.items())
            },
        }


def geo_fields(e164: str, prefix: Literal["From", "To"]) -> dict[str, str]:
    """Twilio's City/State/Zip/Country webhook fields, upper-cased as Twilio sends them."""
    city = state = country = ""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None:
        country = phonenumbers.region_code_for_number(parsed) or ""
        place = geocoder.description_for_number(parsed, "en")
        if ", " in place:
            city, state = place.rsplit(", ", 1)
        elif place and place != country:
            state = place
    return {
        f"{prefix}City": city.upper(),
        f"{prefix}State": state.upper(),
        f"{prefix}Zip": "",
        f"{prefix}Country": country,
    }
