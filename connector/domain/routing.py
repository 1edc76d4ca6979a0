"""Who owns a follow-up task.

The record owner, while active: they know the person. When the owner is missing or
inactive, the team's fallback: round-robin over the team's active members, or the team's
fixed fallback owner. When there is no team or nobody active in it, the configured queue
or fallback owner, so that a reply is never left without an owner.

Round-robin is deterministic: the rotation remembers the last member chosen per team
(not a counter), so adding or removing a member does not reshuffle who is next. The
caller persists the returned `Rotation` in the same transaction as the task it assigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class Team:
    """A team as the mapping configures it; members in rotation order."""

    name: str
    members: tuple[Member, ...] = ()
    round_robin: bool = True
    fallback_owner_id: str | None = None
    lead_id: str | None = None

    @property
    def active_ids(self) -> tuple[str, ...]:
        return tuple(m.user_id for m in self.members if m.active)


@dataclass(frozen=True, slots=True)
class Rotation:
    """The last member given a task, per team name; plain strings, so it persists as a
    JSON object."""

    last: Mapping[str, str] = field(default_factory=dict)

    def after(self, team: str, user_id: str) -> Rotation:
        return Rotation({**self.last, team: user_id})


@unique
class RouteReason(StrEnum):
    OWNER = "owner"
    ROUND_ROBIN = "team_round_robin"
    TEAM_FALLBACK = "team_fallback_owner"
    QUEUE = "fallback_queue"
    UNASSIGNED = "unassigned"


@dataclass(frozen=True, slots=True)
class Assignment:
    """The chosen owner (None only when nothing is configured), why, and the rotation to
    persist (unchanged unless round-robin chose)."""

    owner_id: str | None
    reason: RouteReason
    rotation: Rotation


def next_in_rotation(team: Team, rotation: Rotation) -> str | None:
    """The active member after the last one chosen, in roster order, wrapping around.

    When the last one chosen has left the roster, start over from the first active
    member; when nobody is active, None."""
    active = team.active_ids
    if not active:
        return None
    last = rotation.last.get(team.name)
    roster = [m.user_id for m in team.members]
    if last is None or last not in roster:
        return active[0]
    start = roster.index(last)
    for step in range(1, len(roster) + 1):
        candidate = team.members[(start + step) % len(roster)]
        if candidate.active:
            return candidate.user_id
    return None  # pragma: no cover - `active` is non-empty, so the loop returns


def route(
    owner_id: str | None,
    team: Team | None,
    rotation: Rotation,
    *,
    owner_active: bool,
    fallback_owner_id: str | None = None,
) -> Assignment:
    """Pick the owner of a follow-up (see the module docstring for the order).

    `owner_active` is ignored when there is no owner; `fallback_owner_id` is the
    mapping's queue or user for tasks nobody on a team can take."""
    if owner_id and owner_active:
        return Assignment(owner_id, RouteReason.OWNER, rotation)
    if team is not None:
        if team.round_robin:
            chosen = next_in_rotation(team, rotation)
            if chosen is not None:
                return Assignment(
                    chosen, RouteReason.ROUND_ROBIN, rotation.after(team.name, chosen)
                )
        if team.fallback_owner_id:
            return Assignment(team.fallback_owner_id, RouteReason.TEAM_FALLBACK, rotation)
    if fallback_owner_id:
        return Assignment(fallback_owner_id, RouteReason.QUEUE, rotation)
    return Assignment(None, RouteReason.UNASSIGNED, rotation)


def escalation_owner(team: Team | None, fallback_owner_id: str | None = None) -> str | None:
    """Who gets an SLA escalation task: the team lead, else the configured fallback."""
    if team is not None and team.lead_id:
        return team.lead_id
    return fallback_owner_id
