"""Shared builders for the governance and plays tests: a realistic play and contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.domain.caps import FrequencyCaps, SendKind
from connector.domain.governance import ContactContext, SendCandidate
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.domain.plays import Outcome, OutsideWindow, Play, Timing, Trigger, TriggerKind
from connector.domain.policy import Policy
from connector.domain.templates import Template, TokenSpec

NYC = "+12125550123"  # America/New_York by area code
ALASKA = "+19075550123"  # Adak and Anchorage
NOON_NY = datetime(2025, 6, 10, 16, 0, tzinfo=UTC)  # a Tuesday, 12:00 in New York


def make_play(
    name: str = "speed_to_lead",
    priority: int = 50,
    *,
    outside: OutsideWindow = OutsideWindow.DEFER,
    delay: timedelta = timedelta(0),
    expires: timedelta | None = None,
    holdout: float = 0.0,
    cooldown: timedelta = timedelta(0),
    caps: FrequencyCaps | None = None,
    business_hours_only: bool = False,
) -> Play:
    return Play(
        name=name,
        owner_team="sdr",
        priority=priority,
        outcome=Outcome(disposition="interested"),
        trigger=Trigger(TriggerKind.STAGE_ENTERED, to_value="new"),
        timing=Timing(delay, business_hours_only, expires, outside),
        template=Template("Hi $first_name", {"first_name": TokenSpec(required=True)}),
        cooldown=cooldown,
        holdout_percent=holdout,
        caps=caps,
    )


def make_ctx(
    phone: str | None = NYC,
    consent: ConsentStatus = ConsentStatus.OPTED_IN,
    zones: TimeZones | None = None,
    contact_id: str = "00Q000000000001",
) -> ContactContext:
    state = ContactState(
        ref=CrmRef("Lead", contact_id),
        phone=phone,
        time_zones=zones,
        consent=consent,
        lifecycle_stage="new",
    )
    values: dict[str, str | None] = {"first_name": "Ann"}
    return ContactContext(state, values)


def play_send(play: Play, fired: datetime | None = None) -> SendCandidate:
    return SendCandidate(SendKind.PLAY, play, fired)


def policy_with(*plays: Play) -> Policy:
    return Policy(plays={p.name: p for p in plays})


CRM_CHICAGO = TimeZones(("America/Chicago",), TzSource.CRM_FIELD)
