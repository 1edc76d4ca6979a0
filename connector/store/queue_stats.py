"""The counts the store-backed gauges show (`connector/runtime/gauges.py`): how much each
queue holds and since when, dead letters, SLA timers, the open retry ledger, and when
each pull cursor last moved. Reads only; one pass per gauges job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from connector.store import tables as t

_OUTBOXES = {"crm": t.crm_outbox, "sms": t.sms_outbox}


def outbox_backlog(
    conn: sa.Connection, outbox: str, states: Sequence[str]
) -> tuple[int, datetime | None]:
    """Rows of the `crm` or `sms` outbox in `states`, and when the oldest was queued."""
    table = _OUTBOXES[outbox]
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(table.c.created_at)).where(
            table.c.state.in_(tuple(states))
        )
    ).one()
    oldest: datetime | None = row[1]
    return int(row[0]), oldest


def dead_letters(conn: sa.Connection) -> dict[str, int]:
    """Dead letters per queue (an inbox item's `dead_at`, an outbox row's state)."""
    i = t.inbox.c
    counts = {
        "inbox": sa.select(sa.func.count()).where(i.processed_at.is_(None), i.dead_at.is_not(None)),
        "sms": sa.select(sa.func.count()).where(t.sms_outbox.c.state == "dead"),
        "crm": sa.select(sa.func.count()).where(t.crm_outbox.c.state == "dead"),
    }
    return {queue: int(conn.execute(stmt).scalar_one()) for queue, stmt in counts.items()}


def unmet_timers(conn: sa.Connection, *, breached: bool) -> dict[str, int]:
    """SLA timers not met, per kind: the breached ones, or those still running."""
    s = t.sla_timers.c
    late = s.breached.is_not(None) if breached else s.breached.is_(None)
    rows = conn.execute(
        sa.select(s.kind, sa.func.count()).where(s.met.is_(None), late).group_by(s.kind)
    )
    return {str(kind): int(n) for kind, n in rows}


def open_ledger(conn: sa.Connection) -> dict[str, int]:
    """Unresolved retry-ledger entries per effect (`crm`, `sms`, `inbox`)."""
    r = t.retry_ledger.c
    rows = conn.execute(
        sa.select(r.effect, sa.func.count()).where(r.resolved_at.is_(None)).group_by(r.effect)
    )
    return {str(effect): int(n) for effect, n in rows}


def cursor_moves(conn: sa.Connection) -> list[tuple[str, datetime]]:
    """Each pull cursor's name and when it last moved."""
    c = t.cursors.c
    return [(str(name), updated) for name, updated in conn.execute(sa.select(c.name, c.updated_at))]
