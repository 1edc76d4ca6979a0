"""The alert conditions, read from the store: a job that failed N times in a row, the
writeback lag over its threshold, a CRM write kind whose rejection rate in the window is
over a percentage, the CRM's daily API budget over a percentage, and an opt-out spike for a
play. Each alert names its condition (the dedupe key) and carries counts and thresholds,
never a phone number, a message body or a secret."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from connector.metrics import OPTOUTS_IN_WINDOW
from connector.ops.status import JOBS
from connector.store import job_runs
from connector.store.tables import consent_ledger, crm_outbox, messages

# fewer finished writes than this in a window say nothing about a rejection rate
MIN_WRITES = 10


@dataclass(frozen=True, slots=True)
class Limits:
    job_failures: int = 3
    writeback_lag_s: float = 900.0
    rejection_pct: float = 20.0
    api_budget_pct: float = 80.0
    optout_spike: int = 10
    window_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Alert:
    condition: str  # e.g. "job_failed:writeback", "optout_spike:renewal"
    summary: str
    value: float
    threshold: float
    details: dict[str, Any] = field(default_factory=dict)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _jobs(conn: sa.Connection, limits: Limits) -> list[Alert]:
    out = []
    for job in dict.fromkeys((*JOBS, *job_runs.latest(conn))):
        n = job_runs.failures_in_a_row(conn, job)
        if n >= limits.job_failures:
            out.append(
                Alert(
                    f"job_failed:{job}",
                    f"job {job} failed {n} times in a row",
                    n,
                    limits.job_failures,
                )
            )
    return out


def _writeback_lag(conn: sa.Connection, now: datetime, limits: Limits) -> list[Alert]:
    c = crm_outbox.c
    oldest = conn.execute(
        sa.select(sa.func.min(c.created_at)).where(c.state.in_(("pending", "claimed")))
    ).scalar_one()
    lag = 0.0 if oldest is None else (now - _aware(oldest)).total_seconds()
    if lag <= limits.writeback_lag_s:
        return []
    return [
        Alert(
            "writeback_lag",
            f"the oldest unsent CRM write is {lag:.0f}s old",
            round(lag, 1),
            limits.writeback_lag_s,
        )
    ]


def _rejections(conn: sa.Connection, now: datetime, limits: Limits) -> list[Alert]:
    c = crm_outbox.c
    since = now - timedelta(seconds=limits.window_s)
    rows = conn.execute(
        sa.select(c.kind, c.state, sa.func.count())
        .where(c.done_at >= since, c.state.in_(("done", "dead", "failed")))
        .group_by(c.kind, c.state)
    )
    total: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for kind, state, n in rows:
        total[kind] += n
        if state != "done":
            rejected[kind] += n
    out = []
    for kind, n in sorted(total.items()):
        pct = 100.0 * rejected[kind] / n
        if n >= MIN_WRITES and pct > limits.rejection_pct:
            out.append(
                Alert(
                    f"rejection_rate:crm:{kind}",
                    f"the CRM rejected {rejected[kind]} of {n} {kind} writes ({pct:.1f}%)"
                    " in the window",
                    round(pct, 2),
                    limits.rejection_pct,
                    {"rejected": rejected[kind], "finished": n},
                )
            )
    return out


def _api_budget(conn: sa.Connection, now: datetime, limits: Limits) -> list[Alert]:
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    usage = job_runs.api_usage_since(conn, today)
    if usage is None or usage[0] * 100 <= limits.api_budget_pct:
        return []
    pct = round(usage[0] * 100, 2)
    return [
        Alert(
            "api_budget",
            f"{pct}% of the CRM's daily API budget is used",
            pct,
            limits.api_budget_pct,
        )
    ]


def _optout_spike(conn: sa.Connection, now: datetime, limits: Limits) -> list[Alert]:
    """Opt-outs in the window, each put on the play of the last text sent to the number
    before it (a number that never got one counts for no play)."""
    ledger, m = consent_ledger.c, messages.c
    since = now - timedelta(seconds=limits.window_s)
    last_play = (
        sa.select(m.play)
        .where(
            m.to_number == ledger.phone,
            m.direction == "outbound",
            m.created_at <= ledger.at,
        )
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(last_play).where(ledger.status == "opted_out", ledger.at >= since)
    )
    by_play = Counter(play for (play,) in rows if play is not None)
    for play in set(by_play) | {labels[0] for labels in getattr(OPTOUTS_IN_WINDOW, "_metrics", {})}:
        OPTOUTS_IN_WINDOW.labels(play).set(by_play.get(play, 0))
    return [
        Alert(
            f"optout_spike:{play}",
            f"{n} opt-outs after texts of play {play} in the window",
            n,
            limits.optout_spike,
        )
        for play, n in sorted(by_play.items())
        if n >= limits.optout_spike
    ]


def evaluate(conn: sa.Connection, now: datetime, limits: Limits) -> list[Alert]:
    """Every condition that holds now."""
    return [
        *_jobs(conn, limits),
        *_writeback_lag(conn, now, limits),
        *_rejections(conn, now, limits),
        *_api_budget(conn, now, limits),
        *_optout_spike(conn, now, limits),
    ]
