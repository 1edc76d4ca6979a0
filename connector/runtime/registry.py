"""Which periodic jobs `smsync run` schedules, and what each one calls.

`FACTORIES` lists every job of docs/data-flow.md. Each factory builds its job's
body from the process's `Components` (`connector/runtime/wiring.py`); the engine steps
share its ONE `EngineContext`, whose `on_enqueue` is the scheduler's `wake`: an ingest that
queued CRM writes runs the writeback job at once instead of at its next tick. A factory may be
None for a stage that is not available: it is not scheduled at all (a no-op that looked
like it worked would hide the gap), and `smsync run` says so once at start.

Planning has no job of its own: the planner runs inside the pull, in the transaction of the
state change whose signals it plans from (docs/data-flow.md, step 2), so a send is queued
exactly when its cause is committed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from connector.config import Settings
from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.engine import ingest, pipeline_pull, pull, rep_send, send, sweep, timed
from connector.ops.recorder import recorded
from connector.ports import CrmPort, Cursor, Owner, PullBatch
from connector.runtime.gauges import gauges_job
from connector.runtime.jobs import Job, JobFn
from connector.runtime.wiring import Components

log = structlog.get_logger(__name__)

INGEST_BATCH = 200  # inbox items per pass between two looks at the stop event
SEND_BATCH = 100  # SMS outbox rows per pass


JobFactory = Callable[[Components], JobFn]


class StoppablePull:
    """The CRM port with a pull that ends after the batch in hand once shutdown begins.
    Each batch is committed with its cursor, so stopping between two loses nothing."""

    def __init__(self, crm: CrmPort, stopping: threading.Event) -> None:
        self.crm = crm
        self.stopping = stopping

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        for batch in self.crm.pull(since):
            yield batch
            if self.stopping.is_set():
                return

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        return self.crm.find_by_phone(phone_e164)

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        return self.crm.write(writes)

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        return self.crm.completed_tasks(external_ids)

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return self.crm.owners(ids)

    def probe(self) -> None:
        self.crm.probe()


def pull_job(c: Components) -> JobFn:
    """CRM changes since the cursor -> contact state, consent, signals and planned sends."""
    ctx = c.engine

    def run(stopping: threading.Event) -> None:
        if not stopping.is_set():
            pull.run(replace(ctx, crm=StoppablePull(ctx.crm, stopping)))
        if not stopping.is_set():  # the pipeline, for the report (nothing without a mapping)
            pipeline_pull.run(ctx)

    return run


def ingest_job(c: Components) -> JobFn:
    """The inbox, one batch at a time until it is empty or shutdown begins; each batch
    that queued CRM writes wakes writeback (inside `ingest.run`)."""
    ctx = c.engine

    def run(stopping: threading.Event) -> None:
        while not stopping.is_set():
            report = ingest.run(ctx, max_items=INGEST_BATCH)
            if report.claimed == 0 or report.stopped is not None:
                return

    return run


def send_job(c: Components) -> JobFn:
    """Due SMS outbox rows through the chokepoint to Twilio, one claimed batch at a time."""
    ctx = c.engine

    def run(stopping: threading.Event) -> None:
        while not stopping.is_set():
            report = send.run(ctx, limit=SEND_BATCH)
            if report.claimed == 0 or report.stopped is not None:
                return

    return run


def rep_send_job(c: Components) -> JobFn:
    """Reps' texts from the CRM: one targeted query per pass (faster than the pull), each
    new record claimed, sent through the manual chokepoint and its outcome written back."""
    ctx = c.engine

    def run(stopping: threading.Event) -> None:
        if not stopping.is_set():
            rep_send.run(ctx)

    return run


def sweep_job(c: Components) -> JobFn:
    """SLA breaches and escalations (one transaction; its writes wake writeback), then the
    plays' timed triggers (inactivity, dates coming due)."""
    ctx = c.engine

    def run(stopping: threading.Event) -> None:
        if not stopping.is_set():
            sweep.run(ctx)
        if not stopping.is_set():
            timed.run(ctx)

    return run


def writeback_job(c: Components) -> JobFn:
    """Drain the CRM outbox one claimed batch at a time, so a shutdown stops claiming
    between batches and the batch in flight still settles."""
    writeback = c.writeback(c.crm_pause)

    def run(stopping: threading.Event) -> None:
        while not stopping.is_set():
            report = writeback.drain(max_rounds=1)
            if report.claimed == 0 or report.stopped is not None:
                return
            if report.retrying and report.retrying == report.claimed:
                return  # the whole batch was deferred: the CRM needs a rest

    return run


# The jobs that wait on a vendor, by the readiness check that speaks for it.
RESUMES: dict[str, tuple[str, ...]] = {
    "crm": ("writeback", "pull", "rep_send"),
    "sms": ("send",),
}


def on_recover(ctx: Components) -> Callable[[str], None]:
    """What `/readyz` calls when a check passes again after failing: the jobs waiting on
    that vendor run now, and a paused writeback probes the CRM at once."""

    def recovered(check: str) -> None:
        if check == "crm":
            ctx.crm_pause.poke()
        woken = [job for job in RESUMES.get(check, ()) if ctx.wake(job)]
        log.info("runtime.vendor_back", check=check, woken=woken)

    return recovered


def reconcile_job(c: Components) -> JobFn:
    """Twilio's reconciliation poll; recovered events wake ingest. Like every job it runs
    once at start-up, so webhooks lost while the process was down come back at once."""
    reconcile = c.reconcile
    if reconcile is None:
        raise ValueError("the reconcile job needs the SMS adapter; build with require_sms")

    def run(_stopping: threading.Event) -> None:
        result = reconcile()
        if result.inbound_new or result.status_new:
            c.wake("ingest")

    return run


def store_gauges_job(c: Components) -> JobFn:
    return gauges_job(c.store)


def alerts_job(c: Components) -> JobFn:
    """The alert conditions, deduped per window and sent to SMSYNC_ALERT_WEBHOOK_URL."""
    from connector.ops.alerts import alerts_job as build

    return build(c.store, c.settings)


# The data flow's stages, in order (plan runs inside pull; see the module docstring).
FACTORIES: dict[str, JobFactory | None] = {
    "pull": pull_job,
    "rep_send": rep_send_job,
    "send": send_job,
    "ingest": ingest_job,
    "writeback": writeback_job,
    "reconcile": reconcile_job,
    "sweep": sweep_job,
    "gauges": store_gauges_job,
    "alerts": alerts_job,
}


def interval_of(settings: Settings, name: str) -> float:
    """`SMSYNC_<NAME>_INTERVAL_S`."""
    value = getattr(settings, f"{name}_interval_s")
    assert isinstance(value, float)
    return value


def build_jobs(
    ctx: Components, factories: dict[str, JobFactory | None] | None = None
) -> tuple[list[Job], list[str]]:
    """The jobs to schedule, and the names of those not available. Each run is recorded
    in `job_runs` (`connector.ops.recorder`) for `smsync status` and the alerts."""
    jobs: list[Job] = []
    missing: list[str] = []
    for name, factory in (factories if factories is not None else FACTORIES).items():
        if factory is None:
            missing.append(name)
            continue
        body = recorded(
            name,
            factory(ctx),
            store=ctx.store,
            worker_id=ctx.worker_id,
            crm=ctx.settings.crm,
            clock=ctx.clock.now,
        )
        jobs.append(Job(name, interval_of(ctx.settings, name), body))
    if missing:
        log.warning(
            "jobs.not_available",
            jobs=missing,
            reason="these stages have no job factory; they do not run",
        )
    return jobs, missing
