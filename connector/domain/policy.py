"""The governance policy: the admin's rules as plain records (built by
`connector.config.plays_to_domain`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum, unique

from connector.domain.caps import FrequencyCaps
from connector.domain.disclosure import OptOutInstruction
from connector.domain.keyword_replies import KeywordPolicy
from connector.domain.plays import FieldPredicate, Play
from connector.domain.purposes import PurposePolicy
from connector.domain.quiet_hours import DEFAULT_QUIET_WINDOW, Window
from connector.domain.state_pack import US_PACK
from connector.domain.state_rules import StateRules


@unique
class ConsentMode(StrEnum):
    OPT_IN_REQUIRED = "opt_in_required"  # only contacts who opted in are texted
    OPT_OUT_ONLY = "opt_out_only"  # anyone not opted out is texted


@unique
class UnknownZone(StrEnum):
    DEFAULT = "default"  # use QuietHours.default_zone
    HOLD = "hold"  # do not send until the zone is known


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    default: ConsentMode = ConsentMode.OPT_IN_REQUIRED
    by_region: Mapping[str, ConsentMode] = field(default_factory=dict)

    def mode(self, region: str | None) -> ConsentMode:
        return self.by_region.get(region, self.default) if region else self.default


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Allowed sending hours in the recipient's local time. A per-zone window beats a
    per-region one, which beats the default."""

    default: Window = DEFAULT_QUIET_WINDOW
    by_region: Mapping[str, Window] = field(default_factory=dict)
    by_zone: Mapping[str, Window] = field(default_factory=dict)
    unknown_zone: UnknownZone = UnknownZone.DEFAULT
    default_zone: str | None = "America/New_York"

    def window(self, zone: str, region: str | None) -> Window:
        found = self.by_zone.get(zone)
        if found is None and region:
            found = self.by_region.get(region)
        return found or self.default


@dataclass(frozen=True, slots=True)
class Suppression:
    active_conversation: timedelta = timedelta(hours=24)  # inbound within it pauses plays
    rep_engaged: timedelta = timedelta(hours=48)  # rep activity within it pauses plays
    not_now_cooldown: timedelta = timedelta(days=30)  # after a not_now reply
    exclusions: tuple[FieldPredicate, ...] = ()  # contacts matching any are never played


BUSINESS_HOURS = Window(time(9), time(17), frozenset(range(5)))  # Monday to Friday
DEFAULT_CAPS = FrequencyCaps(per_day=1, per_week=3)


@dataclass(frozen=True, slots=True)
class Policy:
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    business_hours: Window = field(default_factory=lambda: BUSINESS_HOURS)
    caps: FrequencyCaps = field(default_factory=lambda: DEFAULT_CAPS)
    suppression: Suppression = field(default_factory=Suppression)
    region_segment: str = "region"  # the segment whose value names the contact's region
    plays: Mapping[str, Play] = field(default_factory=dict)
    keywords: KeywordPolicy = field(default_factory=KeywordPolicy)  # HELP and STOP answers
    state_rules: StateRules = field(default_factory=lambda: US_PACK)  # on by default
    opt_out_instruction: OptOutInstruction = field(default_factory=OptOutInstruction)
    purposes: PurposePolicy = field(default_factory=PurposePolicy)  # what an opt-out revokes
