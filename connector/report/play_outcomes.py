"""Per play: outcome conversion, time to outcome and the holdout arms' lift (definitions in
`connector/report/queries.py`; the counts are `connector/store/report_plays.py`'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connector.domain.plays import Outcome
from connector.engine.decisions import HOLDOUT_TREATED
from connector.ports import Connection
from connector.report.lift import holdout_lift
from connector.report.model import PlayOutcome
from connector.store import report_plays
from connector.store.report_scope import NONE_KEY, Scope


def play_outcomes(
    conn: Connection, scope: Scope, outcomes: Mapping[str, Outcome]
) -> list[PlayOutcome]:
    """Outcome conversion, time to outcome and holdout lift, per play."""
    counts, velocity = report_plays.conversions(conn, scope, outcomes)
    arms = report_plays.arms(conn, scope, outcomes, exposed=HOLDOUT_TREATED)
    names = sorted((counts.keys() | arms.keys() | outcomes.keys()) - {NONE_KEY})
    result = []
    for name in names:
        n, x = counts.get(name, (0, 0))
        (n1, x1), (n0, x0) = (
            arms.get(name, {}).get("exposed", (0, 0)),
            arms.get(name, {}).get("holdout", (0, 0)),
        )
        pct = velocity.get(name, {})
        result.append(
            PlayOutcome(
                play=name,
                outcome=describe_outcome(outcomes.get(name), scope.meeting),
                contacts=n,
                converted=x,
                time_to_outcome_p50_s=pct.get(50),
                time_to_outcome_p90_s=pct.get(90),
                lift=holdout_lift(x1, n1, x0, n0),
            )
        )
    return result


def describe_outcome(outcome: Outcome | None, meeting: Sequence[str]) -> str:
    """How the play's outcome is defined, for the reader."""
    if outcome is None or (outcome.condition is None and outcome.disposition is None):
        return f"disposition in {', '.join(meeting)} (no outcome configured)"
    if outcome.condition is None:
        return f"disposition = {outcome.disposition}"
    return str(outcome.condition)
