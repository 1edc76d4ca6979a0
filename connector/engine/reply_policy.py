"""The mapping's reply policy as the pure rules want it: disposition rules, teams,
business calendars, SLA durations, and the rotation of round-robin routing.

Built once per engine context (`ReplyPolicy.from_mapping`); the rotation is the only
state, kept in the store's `cursors` table (one row per team: the last member given a
task) and written in the same transaction as the task it assigned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from connector.config import BusinessHours, MappingConfig
from connector.domain.dispositions import Rule
from connector.domain.model import SlaKind, TaskPriority
from connector.domain.routing import Member, Rotation, Team
from connector.domain.sla import BusinessCalendar
from connector.ports import Connection, Cursor
from connector.store import cursors

# Replies that need a human but name no SLA policy get this first-response promise.
DEFAULT_SLA = (SlaKind.FIRST_RESPONSE, timedelta(hours=4))
DEFAULT_HOURS = BusinessCalendar.from_names(
    "America/New_York", ("mon", "tue", "wed", "thu", "fri"), time(9), time(17)
)
_ROTATION = "rotation:"
_PRIORITY: dict[str, TaskPriority] = {"high": "high", "normal": "normal", "medium": "normal"}


def _calendar(hours: BusinessHours) -> BusinessCalendar:
    return BusinessCalendar.from_names(
        hours.time_zone, hours.days, hours.start, hours.end, hours.holidays
    )


def canonical_priority(crm_value: str) -> TaskPriority:
    """The mapping's CRM task priority (High, MEDIUM, ...) as high/normal/low."""
    return _PRIORITY.get(crm_value.lower(), "low")


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    rules: tuple[Rule, ...]
    teams: dict[str, Team]
    calendars: dict[str, BusinessCalendar]
    default_calendar: BusinessCalendar
    inactive: frozenset[str]
    fallback_owner_id: str | None
    review_owner_id: str | None
    escalation_owner_id: str | None
    task_priority: TaskPriority

    @classmethod
    def from_mapping(cls, mapping: MappingConfig) -> ReplyPolicy:
        rules = tuple(
            Rule(r.name, tuple(r.keywords), tuple(r.regexes), r.creates_task, r.sla)
            for r in mapping.dispositions.rules
        )
        routing = mapping.routing
        inactive = frozenset(routing.inactive_users)
        teams = {
            team.name: Team(
                name=team.name,
                members=tuple(Member(m, m not in inactive) for m in team.members),
                round_robin=team.round_robin,
                fallback_owner_id=team.fallback_owner_id,
                lead_id=team.lead_id,
            )
            for team in routing.teams
        }
        sla = mapping.sla
        default = _calendar(sla.business_hours) if sla is not None else DEFAULT_HOURS
        calendars = {t.name: _calendar(t.business_hours) for t in routing.teams if t.business_hours}
        tasks = mapping.tasks
        return cls(
            rules=rules,
            teams=teams,
            calendars=calendars,
            default_calendar=default,
            inactive=inactive,
            fallback_owner_id=tasks.fallback_owner_id,
            # None: the adapter applies tasks.fallback_owner_id, checking the CRM accepts it
            review_owner_id=tasks.review_owner_id,
            escalation_owner_id=routing.escalation_owner_id,
            task_priority=canonical_priority(tasks.priority),
        )

    def team(self, name: str | None) -> Team | None:
        return self.teams.get(name) if name else None

    def calendar(self, team: str | None) -> BusinessCalendar:
        return self.calendars.get(team or "", self.default_calendar)


def sla_for(
    mapping: MappingConfig, sla_name: str | None, disposition: str
) -> tuple[SlaKind, timedelta]:
    """The SLA a reply starts: the rule's named policy, else a policy named after the
    disposition, else the default first-response promise."""
    for name in (sla_name, disposition):
        policy = mapping.sla_policy(name) if name else None
        if policy is not None:
            return SlaKind(policy.kind), timedelta(hours=policy.within_business_hours)
    return DEFAULT_SLA


def load_rotation(conn: Connection, teams: dict[str, Team]) -> Rotation:
    last: dict[str, str] = {}
    for name in teams:
        found = cursors.get(conn, _ROTATION + name)
        if found is not None:
            last[name] = found.id
    return Rotation(last)


def save_rotation(conn: Connection, before: Rotation, after: Rotation, now: datetime) -> None:
    for team, user in after.last.items():
        if before.last.get(team) != user:
            cursors.set_(conn, _ROTATION + team, Cursor(modstamp=now, id=user), now)
