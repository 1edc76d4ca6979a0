"""job_runs: each scheduled job's runs on the replica that led it, for `smsync status`
(last run, duration, outcome, failures in a row) and the alerts job. Rows older than
`KEEP` are pruned as new ones come, so the table stays small."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.tables import job_runs as t

# a day of runs: enough for the last run and a failure streak (ingest every 5 s is ~17k rows)
KEEP = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    worker_id: str
    started_at: datetime
    finished_at: datetime
    outcome: str  # "ok" or "error"
    error: str | None = None
    crm_api_usage: float | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def record(conn: sa.Connection, run: JobRun) -> None:
    conn.execute(
        sa.insert(t).values(
            job=run.job,
            worker_id=run.worker_id[:128],
            started_at=run.started_at,
            finished_at=run.finished_at,
            outcome=run.outcome,
            error=run.error,
            crm_api_usage=run.crm_api_usage,
        )
    )
    conn.execute(sa.delete(t).where(t.c.job == run.job, t.c.finished_at < run.finished_at - KEEP))


def latest(conn: sa.Connection) -> dict[str, JobRun]:
    """The last run of each job."""
    last = sa.select(t.c.job, sa.func.max(t.c.id).label("id")).group_by(t.c.job).subquery("last")
    rows = conn.execute(sa.select(t).join(last, t.c.id == last.c.id).order_by(t.c.job))
    return {row.job: _run(row) for row in rows}


def failures_in_a_row(conn: sa.Connection, job: str, limit: int = 1000) -> int:
    """How many of the job's latest runs failed, counting back to its last success."""
    rows = conn.execute(
        sa.select(t.c.outcome)
        .where(t.c.job == job)
        .order_by(t.c.finished_at.desc(), t.c.id.desc())
        .limit(limit)
    )
    n = 0
    for (outcome,) in rows:
        if outcome == "ok":
            break
        n += 1
    return n


def api_usage_since(conn: sa.Connection, since: datetime) -> tuple[float, datetime] | None:
    """The CRM's last reported share of its daily API budget, at or after `since`."""
    row = conn.execute(
        sa.select(t.c.crm_api_usage, t.c.finished_at)
        .where(t.c.crm_api_usage.is_not(None), t.c.finished_at >= since)
        .order_by(t.c.finished_at.desc(), t.c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else (float(row[0]), row[1])


def _run(row: Any) -> JobRun:
    return JobRun(
        job=row.job,
        worker_id=row.worker_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        error=row.error,
        crm_api_usage=row.crm_api_usage,
    )
