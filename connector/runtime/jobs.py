"""The periodic jobs of `smsync run`, on an APScheduler 3 `BackgroundScheduler`.

Each `Job` runs every `interval_s` (settings `SMSYNC_<JOB>_INTERVAL_S`), one run at a time
in this process, and only on the replica that leads it (`Leadership`). A job's failure is
logged (scrubbed) and counted, and the job runs again at its next tick; the scheduler never
dies of it. `wake(name)` runs a job now instead of at its next tick: new work (a webhook,
an ingest that queued CRM writes) does not wait for the interval.

Single flight is enforced here, not by APScheduler's `max_instances=1`: APScheduler would
drop a wake that arrives while the job is still running, whereas here the running job sees
it and goes round once more, so no wake is ever lost. Runs that fire while the job is
still running are coalesced into nothing (the running pass already covers them)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from connector.errors import SmsyncError
from connector.logs import scrub_text
from connector.metrics import ERRORS, JOB_RUNS, JOB_SECONDS
from connector.runtime.leases import Leadership, SoloLeader

log = structlog.get_logger(__name__)

JobFn = Callable[[threading.Event], object]
"""A job's body. The event is set when shutdown begins: stop claiming new batches."""


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    fn: JobFn
    leader_only: bool = True  # False: every replica runs it (claims must then be safe)


class Jobs:
    """The registry of periodic jobs and the scheduler that runs them."""

    def __init__(self, jobs: Iterable[Job], leadership: Leadership | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        for job in jobs:
            if job.name in self.jobs:
                raise ValueError(f"job {job.name!r} registered twice")
            self.jobs[job.name] = job
        self.leadership = leadership or SoloLeader()
        self.stopping = threading.Event()
        self._cv = threading.Condition()
        self._running: set[str] = set()
        self._wanted: set[str] = set()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(len(self.jobs), 1) * 2)},
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
            timezone=UTC,
        )
        for job in self.jobs.values():
            self._scheduler.add_job(
                self._run,
                "interval",
                seconds=job.interval_s,
                args=[job.name],
                id=job.name,
                name=job.name,
                next_run_time=datetime.now(UTC),  # a first pass at start-up
            )

    @property
    def names(self) -> list[str]:
        return list(self.jobs)

    def start(self) -> None:
        self._scheduler.start()
        log.info("jobs.started", jobs={j.name: j.interval_s for j in self.jobs.values()})

    def wake(self, name: str) -> bool:
        """Run `name` as soon as possible; False when no such job is registered."""
        if name not in self.jobs or self.stopping.is_set():
            return False
        with self._cv:
            self._wanted.add(name)
            running = name in self._running
        if not running:
            self._dispatch(name)
        return True

    def _dispatch(self, name: str) -> None:
        if not self._scheduler.running:
            return
        with contextlib.suppress(JobLookupError):  # shut down meanwhile
            self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def run_once(self, name: str) -> bool:
        """Run `name` in this thread (as the scheduler would); True when it ran and
        succeeded."""
        return self._run(name)

    def _run(self, name: str) -> bool:
        job = self.jobs[name]
        with self._cv:
            if self.stopping.is_set() or name in self._running:
                return False
            self._running.add(name)
        ok = False
        try:
            if job.leader_only and not self.leadership.leads(name):
                JOB_RUNS.labels(name, "not_leader").inc()
                return False
            while True:
                with self._cv:
                    self._wanted.discard(name)
                ok = self._once(job)
                with self._cv:
                    if name not in self._wanted or self.stopping.is_set():
                        break
            return ok
        finally:
            with self._cv:
                self._running.discard(name)
                self._cv.notify_all()

    def _once(self, job: Job) -> bool:
        started = time.perf_counter()
        try:
            job.fn(self.stopping)
        except Exception as exc:  # noqa: BLE001 - a job's failure must not kill the scheduler
            ERRORS.labels(f"job:{job.name}", type(exc).__name__).inc()
            JOB_RUNS.labels(job.name, "error").inc()
            # a classified failure (a vendor refusing auth, a quota, a config mistake)
            # already says what to do; its stack is noise an operator reads every
            # minute. Anything else is a bug, and its stack is what fixes it.
            report = log.error if isinstance(exc, SmsyncError) else log.exception
            report(
                "job.failed",
                job=job.name,
                error=type(exc).__name__,
                detail=scrub_text(str(exc))[:500],
            )
            return False
        finally:
            JOB_SECONDS.labels(job.name).observe(time.perf_counter() - started)
        JOB_RUNS.labels(job.name, "ok").inc()
        return True

    def running(self) -> list[str]:
        with self._cv:
            return sorted(self._running)

    def shutdown(self, timeout_s: float) -> list[str]:
        """Stop starting runs, wait up to `timeout_s` for the ones in flight, stop the
        scheduler; returns the jobs still running at the deadline (empty when clean)."""
        self.stopping.set()
        if self._scheduler.running:
            self._scheduler.pause()
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            unfinished = sorted(self._running)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if unfinished:
            log.warning("jobs.shutdown_timeout", still_running=unfinished, timeout_s=timeout_s)
        else:
            log.info("jobs.stopped")
        return unfinished
