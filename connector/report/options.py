"""What the `report` command needs from settings: the period bounds and each play's outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.config import Settings
from connector.domain.plays import Outcome
from connector.errors import ConfigError


def parse_when(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; naive values are UTC."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"report: {option} {text!r} is not an ISO date or time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def play_outcomes_of(settings: Settings) -> dict[str, Outcome]:
    """Each play's outcome from the plays file the engine uses; none without one."""
    from connector.config import load_plays, to_play
    from connector.engine.plan import plays_path

    path = plays_path(settings)
    if path is None:
        return {}
    return {p.name: p.outcome for p in map(to_play, load_plays(path).plays)}
