"""What a report measures (the period, the grouping, the vocabulary of a meeting and of the
pipeline) and the constants the report's SQL counts with. It lives beside the report's
queries because `Scope.clip` and `Scope.before_end` are SQL conditions; the report's
records (`connector/report/model.py`) re-export these names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from connector.domain.sla import BusinessCalendar

HOLDOUT = "holdout"
NONE_KEY = "(none)"
ALL_KEY = "all"
DELIVERED = ("delivered", "read")
MEETING_DISPOSITIONS = ("confirmed", "meeting_booked")
OPTED_OUT = "opted_out"
CRM_SOURCE = "crm"  # a consent value the pull read from the CRM
OPT_OUT_WINDOW_S = 7 * 86400  # an opt-out counts against a text it follows within this
# the engine's default SLA hours (connector/engine/reply_policy.py) when no mapping is read
DEFAULT_CALENDAR = BusinessCalendar.from_names(
    "America/New_York", ("mon", "tue", "wed", "thu", "fri"), time(9), time(17)
)
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


@dataclass(frozen=True, slots=True)
class PipelineDefs:
    """The mapping's pipeline stages by meaning (connector/config/mapping_pipeline.py).
    Without a mapping: every linked opportunity counts, won is the CRM's won flag."""

    meeting_held: tuple[str, ...] = ()
    opportunity: tuple[str, ...] = ()
    won: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    window_days: int = 30


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
    pipeline: PipelineDefs = PipelineDefs()
    # the business calendar of a team (None: no team), for response time in business hours
    calendar: Callable[[str | None], BusinessCalendar] = field(
        default=lambda _team: DEFAULT_CALENDAR, compare=False
    )

    def clip(self, col: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(col >= self.since)
        if self.until is not None:
            out.append(col < self.until)
        return out

    def before_end(self, col: Any) -> list[ColumnElement[bool]]:
        return [col < self.until] if self.until is not None else []
