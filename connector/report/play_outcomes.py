"""Per play: outcome conversion, time to outcome and the holdout arms' lift (definitions in
`connector/report/queries.py`; the counts are `connector/store/report_plays.py`'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connector.domain.plays import Outcome
from connector.engine.decisions import HOLDOUT_TREATED
from connector.ports import Connection
from connector.report.lift import holdout_lift
from connector.report.model import (
    HOLDOUT,
    NONE_KEY,
    POPULATION_TEXTED,
    POPULATION_TREATED,
    PlayOutcome,
    Scope,
)
from connector.store.report_clicks import PlayClicks, clicks_by_play
from connector.store.report_plays import Arm, arms, play_counts


def play_outcomes(
    conn: Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> list[PlayOutcome]:
    """Outcome conversion, time to outcome and holdout lift, per play."""
    counts, velocity = play_counts(conn, scope, outcomes)
    by_arm = arms(conn, scope, outcomes, (HOLDOUT_TREATED, HOLDOUT))
    clicks = clicks_by_play(conn, scope)
    names = sorted((counts.keys() | by_arm.keys() | outcomes.keys() | clicks.keys()) - {NONE_KEY})
    return [
        _row(name, counts, by_arm.get(name, {}), velocity, outcomes, scope, clicks.get(name))
        for name in names
    ]


def describe_outcome(outcome: Outcome | None, meeting: Sequence[str]) -> str:
    if outcome is None or (outcome.condition is None and outcome.disposition is None):
        return (
            f"a meeting: disposition in {', '.join(meeting)}, or a pipeline stage at or past"
            " meeting held (no outcome configured)"
        )
    if outcome.condition is None:
        return f"disposition = {outcome.disposition}"
    return str(outcome.condition)


def _row(  # noqa: PLR0917 (one call site, all of its own figures)
    name: str,
    counts: Mapping[str, tuple[int, int]],
    arms: Mapping[str, Arm],
    velocity: Mapping[str, Mapping[int, int]],
    outcomes: Mapping[str, Outcome],
    scope: Scope,
    clicks: PlayClicks | None,
) -> PlayOutcome:
    """One play over one population: its treated arm when it has a holdout, else the
    contacts it texted; the lift's exposed arm is that same population."""
    pct = velocity.get(name, {})
    clicked = clicks or PlayClicks(name, 0, 0, 0, 0)
    empty = Arm(0, 0, 0, 0, 0, 0)
    treated, held = arms.get("exposed", empty), arms.get("holdout", empty)
    if arms:
        population, n, texted, x = POPULATION_TREATED, treated.n, treated.texted, treated.converted
    else:
        n, x = counts.get(name, (0, 0))
        population, texted = POPULATION_TEXTED, n
    return PlayOutcome(
        play=name,
        outcome=describe_outcome(outcomes.get(name), scope.meeting),
        population=population,
        contacts=n,
        texted=texted,
        converted=x,
        time_to_outcome_p50_s=pct.get(50),
        time_to_outcome_p90_s=pct.get(90),
        lift=holdout_lift(x if arms else 0, n if arms else 0, held.converted, held.n),
        reply_lift=holdout_lift(treated.replied, treated.n, held.replied, held.n) if arms else None,
        meeting_lift=holdout_lift(treated.meetings, treated.n, held.meetings, held.n)
        if arms
        else None,
        opportunity_lift=holdout_lift(treated.opportunities, treated.n, held.opportunities, held.n)
        if arms
        else None,
        texts_with_links=clicked.texts_with_links,
        contacts_with_links=clicked.contacts_with_links,
        contacts_clicked=clicked.contacts_clicked,
        clicks_not_counted=clicked.not_counted,
    )
