"""`smsync status`: what an operator (or a probe) asks first. Per job its last run,
duration and outcome, failures in a row and who led it; the lags (oldest unsent CRM write,
oldest unprocessed inbound event, each pull cursor's age); queue depths; open retry-ledger
rows by reason; the CRM's daily API budget used today; and the problems that make the
whole unhealthy (`Thresholds`, from the SMSYNC_ALERT_* settings)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa

from connector.runtime.leases import lock_key
from connector.store import job_runs
from connector.store import tables as t

# the jobs `smsync run` schedules (connector/runtime/registry.py), listed even before they ran
JOBS = ("pull", "send", "ingest", "writeback", "reconcile", "sweep", "gauges", "alerts")


@dataclass(frozen=True, slots=True)
class Thresholds:
    writeback_lag_s: float = 900.0
    job_failures: int = 3
    api_budget_pct: float = 80.0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _age(now: datetime, oldest: datetime | None) -> float:
    return 0.0 if oldest is None else round(max((now - _aware(oldest)).total_seconds(), 0.0), 3)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _aware(value).astimezone(UTC).isoformat()


def _lease_held(conn: sa.Connection, job: str) -> bool | None:
    """Postgres: whether some replica holds the job's advisory lock now. SQLite runs one
    replica (its file lock), so there is nothing to ask: None."""
    if conn.dialect.name != "postgresql":
        return None
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    key = lock_key(str(schema or "public"), job) & 0xFFFF_FFFF_FFFF_FFFF
    held = conn.execute(
        sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 1 AND classid = :hi AND objid = :lo"
        ),
        {"hi": key >> 32, "lo": key & 0xFFFF_FFFF},
    ).scalar_one()
    return int(held) > 0


def _jobs(conn: sa.Connection, names: tuple[str, ...], host: str) -> dict[str, Any]:
    last = job_runs.latest(conn)
    out: dict[str, Any] = {}
    for name in dict.fromkeys((*names, *last)):
        run = last.get(name)
        out[name] = {
            "last_run": _iso(run.finished_at) if run else None,
            "duration_s": round(run.duration_s, 3) if run else None,
            "outcome": run.outcome if run else None,
            "error": run.error if run else None,
            "failures_in_a_row": job_runs.failures_in_a_row(conn, name),
            "leader": run.worker_id if run else None,
            "leads_here": run.worker_id.rsplit(":", 1)[0] == host if run else False,
            "lease_held": _lease_held(conn, name),
        }
    return out


def _states(conn: sa.Connection, table: sa.Table) -> dict[str, int]:
    rows = conn.execute(sa.select(table.c.state, sa.func.count()).group_by(table.c.state))
    return {str(state): int(n) for state, n in sorted(rows)}


def _queues(conn: sa.Connection) -> dict[str, Any]:
    i = t.inbox.c
    waiting, dead, processed = (
        int(conn.execute(sa.select(sa.func.count()).where(cond)).scalar_one())
        for cond in (
            sa.and_(i.processed_at.is_(None), i.dead_at.is_(None)),
            sa.and_(i.processed_at.is_(None), i.dead_at.is_not(None)),
            i.processed_at.is_not(None),
        )
    )
    return {
        "crm": _states(conn, t.crm_outbox),
        "sms": _states(conn, t.sms_outbox),
        "inbox": {"dead": dead, "processed": processed, "waiting": waiting},
    }


def _lags(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    c, i = t.crm_outbox.c, t.inbox.c
    oldest_write = conn.execute(
        sa.select(sa.func.min(c.created_at)).where(c.state.in_(("pending", "claimed")))
    ).scalar_one()
    oldest_inbound = conn.execute(
        sa.select(sa.func.min(i.received_at)).where(
            i.processed_at.is_(None), i.dead_at.is_(None), i.kind == "inbound"
        )
    ).scalar_one()
    cursors = conn.execute(
        sa.select(t.cursors.c.name, t.cursors.c.updated_at).order_by(t.cursors.c.name)
    )
    return {
        "writeback_s": _age(now, oldest_write),
        "inbound_s": _age(now, oldest_inbound),
        "cursors_s": {str(name): _age(now, updated) for name, updated in cursors},
    }


def _ledger(conn: sa.Connection) -> dict[str, dict[str, int]]:
    r = t.retry_ledger.c
    rows = conn.execute(
        sa.select(r.effect, r.reason_code, sa.func.count())
        .where(r.resolved_at.is_(None))
        .group_by(r.effect, r.reason_code)
        .order_by(r.effect, r.reason_code)
    )
    out: dict[str, dict[str, int]] = {}
    for effect, reason, n in rows:
        out.setdefault(str(effect), {})[str(reason)] = int(n)
    return out


def build(
    conn: sa.Connection,
    now: datetime,
    thresholds: Thresholds,
    *,
    jobs: tuple[str, ...] = JOBS,
    host: str | None = None,
) -> dict[str, Any]:
    """The whole status as JSON-ready data; `healthy` is False when `problems` is not empty."""
    here = host if host is not None else socket.gethostname()
    job_view = _jobs(conn, jobs, here)
    lags = _lags(conn, now)
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    usage = job_runs.api_usage_since(conn, today)
    used_pct = None if usage is None else round(usage[0] * 100, 2)
    budget = None if usage is None else {"used_pct": used_pct, "reported_at": _iso(usage[1])}
    problems: list[str] = []
    if lags["writeback_s"] > thresholds.writeback_lag_s:
        problems.append(
            f"writeback lag {lags['writeback_s']:.0f}s is over {thresholds.writeback_lag_s:.0f}s"
            " (SMSYNC_ALERT_WRITEBACK_LAG_S)"
        )
    for name, view in job_view.items():
        if view["failures_in_a_row"] >= thresholds.job_failures:
            problems.append(
                f"job {name} failed {view['failures_in_a_row']} times in a row"
                " (SMSYNC_ALERT_JOB_FAILURES)"
            )
    if used_pct is not None and used_pct > thresholds.api_budget_pct:
        problems.append(
            f"CRM API budget {used_pct}% used today, over"
            f" {thresholds.api_budget_pct}% (SMSYNC_ALERT_API_BUDGET_PCT)"
        )
    return {
        "at": _iso(now),
        "healthy": not problems,
        "problems": problems,
        "jobs": job_view,
        "lag": lags,
        "queues": _queues(conn),
        "retry_ledger": _ledger(conn),
        "crm_api_budget": budget,
    }


def lines(status: dict[str, Any]) -> list[str]:
    """The status for a terminal."""
    out = [f"{'healthy' if status['healthy'] else 'UNHEALTHY'} at {status['at']}"]
    out += [f"  ! {p}" for p in status["problems"]]
    out.append("jobs:")
    for name, j in status["jobs"].items():
        if j["last_run"] is None:
            out.append(f"  {name:<10} never ran")
            continue
        here = " (leads here)" if j["leads_here"] else ""
        out.append(
            f"  {name:<10} {j['outcome']:<5} {j['last_run']} in {j['duration_s']}s,"
            f" {j['failures_in_a_row']} failure(s) in a row, led by {j['leader']}{here}"
        )
    lag = status["lag"]
    out.append(f"lag: writeback {lag['writeback_s']}s, inbound {lag['inbound_s']}s")
    out += [f"  cursor {name}: {age}s" for name, age in lag["cursors_s"].items()]
    q = status["queues"]
    out.append(f"queues: crm {q['crm']}, sms {q['sms']}, inbox {q['inbox']}")
    out.append(f"retry ledger: {status['retry_ledger'] or 'empty'}")
    budget = status["crm_api_budget"]
    out.append(
        "CRM API budget: not reported today"
        if budget is None
        else f"CRM API budget: {budget['used_pct']}% used (as of {budget['reported_at']})"
    )
    return out
