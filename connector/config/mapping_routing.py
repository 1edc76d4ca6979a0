"""Who answers a reply and by when: business hours, SLA policies, teams and escalation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from connector.config.values import SnakeName, Strict, TimeOfDay, TimeZoneName, Weekday, fail

SlaKindName = Literal["first_response", "follow_up"]


# --- SLA --------------------------------------------------------------------------------


class BusinessHours(Strict):
    """When the SLA clock runs."""

    days: tuple[Weekday, ...] = Field(
        min_length=1, description="Working days, e.g. [mon, tue, wed, thu, fri]."
    )
    start: TimeOfDay = Field(description='Opening time, "HH:MM" in quotes.')
    end: TimeOfDay = Field(description='Closing time, "HH:MM" in quotes; after start.')
    time_zone: TimeZoneName = Field(description="IANA time zone of these hours.")
    holidays: tuple[date, ...] = Field(
        (), description="Local dates the SLA clock does not run, e.g. [2026-12-25]."
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end <= self.start:
            raise fail("end must be after start (hours that cross midnight are not supported)")
        if len(set(self.days)) != len(self.days):
            raise fail("a day is listed twice in days; list each day once")
        return self


class SlaPolicy(Strict):
    """How fast a human must answer, counted in business hours."""

    kind: SlaKindName = Field(description="first_response or follow_up.")
    within_business_hours: float = Field(
        gt=0, le=24 * 7, description="Business hours allowed, e.g. 2 or 0.5."
    )


class SlaSettings(Strict):
    business_hours: BusinessHours = Field(description="When the SLA clock runs.")

    policies: Mapping[SnakeName, SlaPolicy] = Field(
        default_factory=dict,
        description="Named SLA policies that disposition rules refer to by `sla: <name>`.",
    )


# --- routing ---------------------------------------------------------------------------


class TeamSettings(Strict):
    """One sales team: who takes replies when a record's owner cannot, and who hears
    about SLA breaches."""

    name: Annotated[str, Field(min_length=1)] = Field(
        description="The team's name, as the owner_team field holds it."
    )
    members: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (), description="User ids in round-robin order."
    )
    round_robin: bool = Field(
        default=True, description="Rotate tasks of unowned records over the active members."
    )
    fallback_owner_id: str | None = Field(
        None, min_length=1, description="User or queue that takes the team's tasks otherwise."
    )
    lead_id: str | None = Field(
        None, min_length=1, description="User who gets the escalation task on an SLA breach."
    )
    business_hours: BusinessHours | None = Field(
        None,
        description="The team's own SLA hours, when they differ from sla.business_hours "
        "(e.g. a West team on Pacific time).",
    )


class RoutingSettings(Strict):
    """Who owns follow-ups: the record owner while active, else the owner's team."""

    teams: tuple[TeamSettings, ...] = Field((), description="The teams and their rosters.")
    inactive_users: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (),
        description="User ids who no longer take work (left, on leave); their records "
        "route to their team.",
    )
    escalation_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User who gets escalation tasks when the team has no lead.",
    )
