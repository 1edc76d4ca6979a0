"""Each scheduled run, recorded in `job_runs` by the replica that led it, with the share
of the CRM's daily API budget the CRM last reported (the `smsync_crm_api_usage_ratio`
gauge the adapters set from Sforce-Limit-Info or HubSpot's daily-limit headers). A
recording that fails is logged and never fails the job."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import REGISTRY

from connector.failures import describe
from connector.ports import Store
from connector.store import job_runs
from connector.store.job_runs import JobRun

log = structlog.get_logger(__name__)

JobFn = Callable[[threading.Event], object]


def crm_api_usage(crm: str) -> float | None:
    """The last share this process read from the CRM; None before it read any."""
    return REGISTRY.get_sample_value("smsync_crm_api_usage_ratio", {"crm": crm})


def recorded(
    name: str,
    fn: JobFn,
    *,
    store: Store,
    worker_id: str,
    crm: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> JobFn:
    """`fn`, with its run written to `job_runs` (outcome "error" when it raised; the
    exception still propagates to the scheduler, which logs and counts it)."""

    def run(stopping: threading.Event) -> object:
        started = clock()
        error: BaseException | None = None
        try:
            return fn(stopping)
        except Exception as exc:
            error = exc
            raise
        finally:
            entry = JobRun(
                job=name,
                worker_id=worker_id,
                started_at=started,
                finished_at=clock(),
                outcome="ok" if error is None else "error",
                error=None if error is None else describe(error),
                crm_api_usage=crm_api_usage(crm),
            )
            try:
                with store.begin() as conn:
                    job_runs.record(conn, entry)
            except Exception as exc:  # noqa: BLE001 - the run's outcome matters more
                log.warning("job.run_not_recorded", job=name, error=describe(exc))

    return run
