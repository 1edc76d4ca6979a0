"""`smsync demo`: build the world, play the day with progress bars on stderr, summarise.

stdout carries only the summary table, then (with `--json`) one JSON line, last."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from connector.demo.funnel import DEFAULT_EFFECT, Funnel, check_effect, pipeline_counts
from connector.demo.scenario import START, Day
from connector.demo.summary import Summary, collect, render
from connector.demo.world import DemoWorld

CRMS = ("salesforce", "hubspot")


def run_demo(
    crm: str,
    contacts: int,
    *,
    as_json: bool = False,
    keep_db: Path | None = None,
    effect: float = DEFAULT_EFFECT,
    seed: int = 7,
    plays: Path | None = None,
) -> Summary:
    """`plays`: another plays file than the shipped one (the seeded-runs lift test
    widens the holdouts with it)."""
    check_effect(effect)
    if crm not in CRMS:
        raise ValueError(f"--crm must be one of {', '.join(CRMS)}")
    if contacts < 10:
        raise ValueError("--contacts must be at least 10 (the day needs a few of each)")
    started = time.monotonic()
    err = Console(stderr=True)
    out = Console(soft_wrap=True)
    with DemoWorld(crm, contacts, START, seed=seed, keep_db=keep_db, plays=plays) as world:
        day = Day(world, contacts)
        funnel = Funnel(world, day.admin, effect=effect, seed=seed)
        steps = day.steps() + funnel.steps()
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
        with progress:
            overall = progress.add_task(f"business day on {crm}", total=len(steps))
            for step in steps:
                world.sandbox.state.clock.set(max(step.at, world.now))
                task = progress.add_task(step.title, total=None)
                jobs = progress.add_task("  jobs", total=None, visible=False)

                def advance(n: int, task: TaskID = task) -> None:
                    progress.advance(task, n)

                def job_done(_name: str, jobs: TaskID = jobs) -> None:
                    progress.update(jobs, visible=True)
                    progress.advance(jobs, 1)

                world.on_job = job_done
                items = step.act(advance)
                progress.update(task, total=max(items, 1), completed=max(items, 1))
                progress.remove_task(jobs)
                progress.advance(overall, 1)
        summary = collect(world, day.admin, contacts, day.consent_baseline)
        summary.pipeline = pipeline_counts(world)
        day.admin.close()
    summary.wall_s = time.monotonic() - started
    render(summary, out)
    if as_json:
        out.print(json.dumps(summary.to_json(), sort_keys=False), markup=False, highlight=False)
    return summary
