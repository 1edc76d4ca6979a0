"""The report's records (what `build_report` returns and `render` shows), the scope of a
report (period, grouping) and the constants its definitions use; the definitions are in
`connector/report/queries.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from connector.report.lift import Lift

HOLDOUT = "holdout"
NONE_KEY = "(none)"
ALL_KEY = "all"
DELIVERED = ("delivered", "read")
MEETING_DISPOSITIONS = ("confirmed", "meeting_booked")
OPTED_OUT = "opted_out"
# canonical fields held as contact_state columns; any other outcome field is a segment
CONTACT_COLUMNS = frozenset(
    {"owner_id", "owner_team", "lifecycle_stage", "journey_state", "active_motion",
     "disposition", "consent"}
)  # fmt: skip
# response-time histogram: upper bounds in seconds, and their labels
BUCKETS: tuple[tuple[int | None, str], ...] = (
    (60, "< 1 min"),
    (300, "1-5 min"),
    (900, "5-15 min"),
    (3600, "15-60 min"),
    (4 * 3600, "1-4 h"),
    (24 * 3600, "4-24 h"),
    (None, "> 24 h"),
)


class GroupBy(StrEnum):
    PLAY = "play"
    SEGMENT = "segment"
    TEAM = "team"
    OWNER = "owner"


@dataclass(frozen=True, slots=True)
class Scope:
    """What to measure: the period, the grouping, and the vocabulary that defines a meeting."""

    since: datetime | None = None
    until: datetime | None = None
    by: GroupBy | None = None
    segment: str = "industry"
    meeting: tuple[str, ...] = MEETING_DISPOSITIONS

    def clip(self, col: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(col >= self.since)
        if self.until is not None:
            out.append(col < self.until)
        return out

    def before_end(self, col: Any) -> list[ColumnElement[bool]]:
        return [col < self.until] if self.until is not None else []


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    key: str
    attempted: int = 0
    delivered: int = 0
    contacts: int = 0
    replied: int = 0
    meetings: int = 0
    opted_out: int = 0
    sla_closed: int = 0
    sla_met: int = 0
    response_p50_s: int | None = None
    response_p90_s: int | None = None
    dispositions: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)

    @property
    def contact_rate(self) -> float | None:
        return _rate(self.delivered, self.attempted)

    @property
    def reply_rate(self) -> float | None:
        return _rate(self.replied, self.contacts)

    @property
    def meeting_rate(self) -> float | None:
        return _rate(self.meetings, self.contacts)

    @property
    def opt_out_rate(self) -> float | None:
        return _rate(self.opted_out, self.contacts)

    @property
    def sla_met_rate(self) -> float | None:
        return _rate(self.sla_met, self.sla_closed)

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "contact_rate": self.contact_rate,
            "contacts": self.contacts,
            "replied": self.replied,
            "reply_rate": self.reply_rate,
            "meetings": self.meetings,
            "meeting_rate": self.meeting_rate,
            "opted_out": self.opted_out,
            "opt_out_rate": self.opt_out_rate,
            "sla_closed": self.sla_closed,
            "sla_met": self.sla_met,
            "sla_met_rate": self.sla_met_rate,
            "response_p50_s": self.response_p50_s,
            "response_p90_s": self.response_p90_s,
            "dispositions": dict(sorted(self.dispositions.items())),
            "blocked": dict(sorted(self.blocked.items())),
        }


@dataclass(frozen=True, slots=True)
class PlayOutcome:
    play: str
    outcome: str  # how the outcome was defined, for the reader
    contacts: int
    converted: int
    time_to_outcome_p50_s: int | None
    time_to_outcome_p90_s: int | None
    lift: Lift

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.converted, self.contacts)

    def as_json(self) -> dict[str, object]:
        return {
            "play": self.play,
            "outcome": self.outcome,
            "contacts": self.contacts,
            "converted": self.converted,
            "conversion_rate": self.conversion_rate,
            "time_to_outcome_p50_s": self.time_to_outcome_p50_s,
            "time_to_outcome_p90_s": self.time_to_outcome_p90_s,
            "lift": self.lift.as_json(),
        }


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: str  # YYYY-MM-DD, UTC
    sent: int
    opt_outs: int

    @property
    def rate(self) -> float | None:
        return _rate(self.opt_outs, self.sent)


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    total: GroupMetrics
    groups: list[GroupMetrics]
    plays: list[PlayOutcome]
    opt_out_trend: list[TrendPoint]
    response_histogram: list[tuple[str, int]]

    def as_json(self) -> dict[str, object]:
        s = self.scope
        return {
            "period": {
                "since": s.since.isoformat() if s.since else None,
                "until": s.until.isoformat() if s.until else None,
            },
            "by": s.by.value if s.by else None,
            "segment": s.segment if s.by is GroupBy.SEGMENT else None,
            "total": self.total.as_json(),
            "groups": [g.as_json() for g in self.groups],
            "plays": [p.as_json() for p in self.plays],
            "opt_out_trend": [
                {"day": p.day, "sent": p.sent, "opt_outs": p.opt_outs, "rate": p.rate}
                for p in self.opt_out_trend
            ],
            "response_histogram": [{"bucket": b, "count": n} for b, n in self.response_histogram],
        }
