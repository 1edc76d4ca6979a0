"""A play's variants (its experiment arms) and its templates per language.

Assignment is a pure function of (contact, play, the variants' names and weights): a
stable hash, so every replica and every restart gives a contact the same arm with no
coordination and nothing stored to look up. Changing the variants (a name or a weight)
changes the hash input on purpose: a new experiment reshuffles its contacts.

The holdout is decided first (`domain.holdout`); only treated contacts get a variant. A
variant overrides what is sent: its template (per language), its delay, its timing window
(business hours only, what to do outside it) and its cadence (the play's cooldown).

A contact's language (the `language` segment: "es", "es-MX", "Spanish") picks the
template written in it, else the play's fallback language (the language of `template`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from connector.domain.plays import OutsideWindow, Play, Timing
from connector.domain.templates import Template

_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm: a weight (share of the treated contacts) and what it overrides."""

    name: str
    weight: float
    template: Template | None = None  # in the play's fallback language
    translations: Mapping[str, Template] = field(default_factory=dict)
    delay: timedelta | None = None
    business_hours_only: bool | None = None
    outside_window: OutsideWindow | None = None
    cooldown: timedelta | None = None  # cadence: no repeat of the play within it


@dataclass(frozen=True, slots=True)
class VariantAssignment:
    play: str
    variant: str
    bucket: float  # in [0, 1): where the contact fell on the cumulative weights


def bucket(contact_key: str, play: str, variants: tuple[Variant, ...]) -> float:
    """A number in [0, 1), the same for the same contact, play and variants everywhere."""
    arms = "\x1f".join(f"{v.name}={v.weight:g}" for v in variants)
    seed = f"variant\x00{play}\x00{arms}\x00{contact_key}".encode()
    digest = hashlib.blake2b(seed, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(contact_key: str, play: Play) -> VariantAssignment | None:
    """The contact's arm of the play, or None when the play has no variants (or no
    positive weight, which the plays file refuses)."""
    variants = play.variants
    total = sum(v.weight for v in variants)
    if not variants or total <= 0:
        return None
    b = bucket(contact_key, play.name, variants)
    point, running = b * total, 0.0
    chosen = variants[-1]
    for v in variants:
        running += v.weight
        if v.weight > 0 and point < running:
            chosen = v
            break
    return VariantAssignment(play.name, chosen.name, b)


def variant_named(play: Play, name: str | None) -> Variant | None:
    return next((v for v in play.variants if v.name == name), None)


def apply(play: Play, variant: Variant | None) -> Play:
    """The play as this arm sends it: the variant's template, timing and cadence."""
    if variant is None:
        return play
    t = play.timing
    timing = Timing(
        delay=t.delay if variant.delay is None else variant.delay,
        business_hours_only=(
            t.business_hours_only
            if variant.business_hours_only is None
            else variant.business_hours_only
        ),
        expires_after=t.expires_after,
        outside_window=t.outside_window
        if variant.outside_window is None
        else variant.outside_window,
    )
    template, translations = play.template, play.translations
    if variant.template is not None:
        template, translations = variant.template, variant.translations
    cooldown = play.cooldown if variant.cooldown is None else variant.cooldown
    return replace(
        play, timing=timing, template=template, translations=translations, cooldown=cooldown
    )


def language_code(value: str | None) -> str | None:
    """The contact's `language` segment as a lower-case code ("es-MX" -> "es-mx"); a CRM
    that stores the language's name ("Spanish", "Español") gets its code for a few
    common ones."""
    code = (value or "").strip().lower().replace("_", "-")
    return _NAMES.get(code, code) or None


_NAMES = {
    "english": "en",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "french": "fr",
    "français": "fr",
    "francais": "fr",
    "portuguese": "pt",
    "german": "de",
}


def choose_template(play: Play, language: str | None) -> tuple[Template, str]:
    """The template in the contact's language ("es-MX" falls back to "es"), else the
    play's fallback language's; with the language chosen."""
    code = language_code(language)
    if code is not None:
        for candidate in (code, code.split("-")[0]):
            if candidate == play.language:
                return play.template, play.language
            found = play.translations.get(candidate)
            if found is not None:
                return found, candidate
    return play.template, play.language


def language_of(texts: Mapping[str, str], language: str | None, default: str) -> str:
    """A keyword answer in the contact's language (exact code, then its first part), or
    `default`."""
    code = language_code(language)
    if code is not None:
        for candidate in (code, code.split("-")[0]):
            if candidate in texts:
                return texts[candidate]
    return default
