"""Holdout assignment: a stable, uniform hash of (contact, play), so the control group of
a play never changes between runs or replicas and can be measured against the treated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_SCALE = float(1 << 64)


def bucket(contact_key: str, play: str) -> float:
    """A number in [0, 1), the same for the same pair on every machine."""
    digest = hashlib.blake2b(f"{play}\x00{contact_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True, slots=True)
class HoldoutAssignment:
    """What to persist for measurement: the pair, its bucket and the group it fell in."""

    contact_key: str
    play: str
    percent: float
    bucket: float
    held_out: bool


def assign(contact_key: str, play: str, percent: float) -> HoldoutAssignment:
    b = bucket(contact_key, play)
    return HoldoutAssignment(contact_key, play, percent, b, b * 100.0 < percent)
