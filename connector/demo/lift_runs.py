"""Seeded runs of the demo's world, read back through the report: does the holdout lift on
opportunity creation find the effect the world was given, and nothing when it was given
none? (`scripts/demo_lift.py` prints it; the integration test runs a small one.)

The shipped plays hold out 5-25% of a play's contacts, a handful in a demo-sized world, so
the runs use a copy of the shipped plays with every holdout widened to `holdout` percent.
Each run's report (the same `build_report` as `smsync report --json`) gives, per play, the
treated and holdout arms and how many of each got an opportunity; the runs pool them over
plays and seeds (a contact counts once per play it is in) and compute the lift and its 95%
interval with the report's own `holdout_lift`.

Only plays that decide before the booking are pooled: a play the booking itself triggers
(the meeting confirmation, the no-show reminder) has only booked contacts in both arms, so
its arms measure what a text does to a meeting already booked, not to booking one."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from connector.config import load_settings
from connector.demo.runner import run_demo
from connector.demo.world import DEMO_PLAYS, MAPPINGS
from connector.domain.template_values import MEETING
from connector.report.lift import Lift, holdout_lift
from connector.report.options import mapping_scope, play_outcomes_of
from connector.report.queries import Scope, build_report
from connector.store import SqlStore


@dataclass
class Pooled:
    exposed: int = 0
    exposed_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0

    def add(self, lift: Lift) -> None:
        self.exposed += lift.exposed
        self.exposed_converted += lift.exposed_converted
        self.holdout += lift.holdout
        self.holdout_converted += lift.holdout_converted

    def lift(self) -> Lift:
        return holdout_lift(
            self.exposed_converted, self.exposed, self.holdout_converted, self.holdout
        )


def widened_plays(target: Path, holdout: float) -> tuple[Path, set[str]]:
    """The shipped plays with every play's holdout at `holdout` percent, and the names of
    those that decide before a booking (not triggered by the meeting)."""
    doc = yaml.safe_load(DEMO_PLAYS.read_text(encoding="utf-8"))
    before: set[str] = set()
    for play in doc["plays"]:
        play["holdout_percent"] = holdout
        trigger = play.get("trigger", {})
        approaching = trigger.get("date_approaching") or {}
        if not trigger.get("meeting_booked") and approaching.get("field") != MEETING:
            before.add(str(play["name"]))
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return target, before


def opportunity_arms(crm: str, db: Path, plays: Path) -> dict[str, Lift]:
    """Per play with a holdout, its opportunity lift as `smsync report --json` shows it."""
    settings = load_settings(
        crm=crm,
        database_url=f"sqlite:///{db}",
        mappings=MAPPINGS / f"{crm}.yaml",
        plays=plays,
    )
    scope = Scope()
    calendar, pipeline = mapping_scope(settings)
    if calendar is not None:
        scope = replace(scope, calendar=calendar)
    if pipeline is not None:
        scope = replace(scope, pipeline=pipeline)
    store = SqlStore.from_url(settings.database_url)
    try:
        with store.begin() as conn:
            found = build_report(conn, scope, play_outcomes_of(settings))
    finally:
        store.close()
    return {p.play: p.opportunity_lift for p in found.plays if p.opportunity_lift is not None}


def lift_over_seeds(
    crm: str, seeds: Sequence[int], contacts: int, effect: float, *, holdout: float = 50.0
) -> dict[str, Any]:
    """Run the world once per seed with `effect`; the pooled opportunity lift."""
    pooled = Pooled()
    opportunities = 0
    with tempfile.TemporaryDirectory(prefix="smsync-lift-") as tmp:
        plays, pooled_plays = widened_plays(Path(tmp) / "plays.yaml", holdout)
        for seed in seeds:
            db = Path(tmp) / f"seed{seed}.db"
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                summary = run_demo(crm, contacts, keep_db=db, effect=effect, seed=seed, plays=plays)
            opportunities += summary.pipeline.opportunities
            for play, lift in opportunity_arms(crm, db, plays).items():
                if play in pooled_plays:
                    pooled.add(lift)
    return {
        "crm": crm,
        "effect": effect,
        "seeds": list(seeds),
        "contacts": contacts,
        "holdout_percent": holdout,
        "plays_pooled": sorted(pooled_plays),
        "opportunities": opportunities,
        "opportunity_lift": pooled.lift().as_json(),
    }
