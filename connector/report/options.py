"""What the `report` command needs from settings: the period bounds, each play's outcome and
the teams' SLA calendars."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from connector.config import Settings
from connector.domain.plays import Outcome
from connector.domain.sla import BusinessCalendar
from connector.errors import ConfigError
from connector.report.model import PipelineDefs


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


def mapping_scope(
    settings: Settings,
) -> tuple[Callable[[str | None], BusinessCalendar] | None, PipelineDefs | None]:
    """From the mapping the engine uses: each team's SLA calendar (response time in
    business hours) and the pipeline's stages by meaning; None for what it does not say,
    or when there is no mapping file (the report's defaults then)."""
    from connector.config import load_mapping, mapping_path
    from connector.engine.reply_policy import ReplyPolicy

    path = mapping_path(settings)
    if not path.is_file():
        return None, None
    mapping = load_mapping(path)
    found = mapping.pipeline
    pipeline = (
        PipelineDefs(
            meeting_held=found.stages.meeting_held,
            opportunity=found.stages.opportunity,
            won=found.stages.won,
            lost=found.stages.lost,
            window_days=found.opportunity_window_days,
        )
        if found is not None
        else None
    )
    return ReplyPolicy.from_mapping(mapping).calendar, pipeline
