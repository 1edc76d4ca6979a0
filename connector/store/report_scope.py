"""What a report measures (`Scope`: the period, the grouping, the meeting vocabulary) and
the constants its SQL uses; the figures' definitions are in `connector/report/queries.py`,
their queries in `connector/store/report_figures.py` and `report_plays.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

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
