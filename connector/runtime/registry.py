"""Which periodic jobs `smsync run` schedules, and what each one calls.

`FACTORIES` lists every job of the data flow in DESIGN.md. A job whose engine function
exists maps to a factory building its body from the `JobContext`; the others map to None
and are not scheduled at all (a no-op that looked like it worked would hide the gap), and
`smsync run` says once at start which ones are not available yet. When the engine
(issue 7) lands a stage, wiring it in is one line here: replace its None by a factory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from connector.config import Settings
from connector.engine.writeback import Writeback
from connector.mapping_schema import MappingConfig
from connector.ports import Clock, CrmPort, Store
from connector.runtime.gauges import gauges_job
from connector.runtime.jobs import Job, JobFn
from connector.sms.twilio.client import TwilioSms
from connector.sms.twilio.reconcile import poll

log = structlog.get_logger(__name__)


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What job bodies are built from. `wake(name)` runs another job now (new work)."""

    settings: Settings
    store: Store
    mapping: MappingConfig
    crm: CrmPort
    sms: TwilioSms
    clock: Clock
    worker_id: str
    wake: Callable[[str], bool]


JobFactory = Callable[[JobContext], JobFn]


def writeback_job(ctx: JobContext) -> JobFn:
    """Drain the CRM outbox one claimed batch at a time, so a shutdown stops claiming
    between batches and the batch in flight still settles."""
    writeback = Writeback(
        store=ctx.store,
        crm=ctx.crm,
        clock=ctx.clock,
        crm_name=ctx.settings.crm,
        worker_id=ctx.worker_id,
    )

    def run(stopping: threading.Event) -> None:
        while not stopping.is_set():
            report = writeback.drain(max_rounds=1)
            if report.claimed == 0 or report.stopped is not None:
                return
            if report.retrying and report.retrying == report.claimed:
                return  # the whole batch was deferred: the CRM needs a rest

    return run


def reconcile_job(ctx: JobContext) -> JobFn:
    """Twilio's reconciliation poll; recovered events wake ingest."""

    def run(_stopping: threading.Event) -> None:
        result = poll(ctx.sms, ctx.store, now=ctx.clock.now)
        if result.inbound_new or result.status_new:
            ctx.wake("ingest")

    return run


def store_gauges_job(ctx: JobContext) -> JobFn:
    return gauges_job(ctx.store)


# The data flow's stages, in order. None: the engine (issue 7) has not provided it yet.
FACTORIES: dict[str, JobFactory | None] = {
    "pull": None,  # issue 7: connector.engine pull (CRM changes -> contact state, signals)
    "plan": None,  # issue 7/8: plays + governance -> SMS outbox
    "send": None,  # issue 7: claim SMS outbox rows -> Twilio
    "ingest": None,  # issue 7: inbox -> consent, dispositions, SLA, CRM outbox
    "writeback": writeback_job,
    "reconcile": reconcile_job,
    "sweep": None,  # issue 7: SLA breaches, escalations, deferred sends
    "gauges": store_gauges_job,
}


def interval_of(settings: Settings, name: str) -> float:
    """`SMSYNC_<NAME>_INTERVAL_S`."""
    value = getattr(settings, f"{name}_interval_s")
    assert isinstance(value, float)
    return value


def build_jobs(
    ctx: JobContext, factories: dict[str, JobFactory | None] | None = None
) -> tuple[list[Job], list[str]]:
    """The jobs to schedule, and the names of those not available yet."""
    jobs: list[Job] = []
    missing: list[str] = []
    for name, factory in (factories if factories is not None else FACTORIES).items():
        if factory is None:
            missing.append(name)
            continue
        jobs.append(Job(name, interval_of(ctx.settings, name), factory(ctx)))
    if missing:
        log.warning(
            "jobs.not_available",
            jobs=missing,
            reason="waiting for the sync engine (issue #7); these stages do not run yet",
        )
    return jobs, missing
