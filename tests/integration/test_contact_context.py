"""Telling smsync's own CRM logging apart from the rep's activity, over the real store on
SQLite and Postgres: only the moments smsync wrote (first write after queueing, last
write) explain a last-activity value; anything else is the rep."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from connector.domain.model import ContactState, CrmRef, CrmWrite
from connector.engine import contact_context
from connector.store import SqlStore, crm_outbox
from connector.store import tables as tb

REF = CrmRef("Contact", "003000000000001")
QUEUED = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)  # a follow-up task queued at 10:30 NY
RAISED = datetime(2026, 3, 3, 22, 45, tzinfo=UTC)  # re-written (priority raised) at 17:45


@pytest.fixture
def logged(store: SqlStore) -> SqlStore:
    """One follow-up task: queued and first written at 10:30, last written at 17:45."""
    with store.begin() as conn:
        write = CrmWrite("task", "task:SM1:follow_up", REF, {"status": "open"})
        assert crm_outbox.enqueue(conn, write, QUEUED)
        t = tb.crm_outbox
        conn.execute(
            sa.update(t)
            .where(t.c.external_id == write.external_id)
            .values(state="done", done_at=RAISED)
        )
    return store


@pytest.mark.parametrize(
    ("last_activity", "is_rep"),
    [
        ("2026-03-03T15:30:40Z", False),  # the task's first write
        ("2026-03-03T15:41:00Z", False),  # ... within the writeback's latency
        ("2026-03-03T22:46:00Z", False),  # its last write
        ("2026-03-03T19:00:00Z", True),  # the rep's call between the two
        ("2026-03-04T09:00:00Z", True),  # the next day
        ("2026-03-03", False),  # a date on a day smsync wrote
        ("2026-03-02", True),
    ],
)
def test_only_smsyncs_own_write_moments_are_taken_for_its_logging(
    logged: SqlStore, last_activity: str, is_rep: bool
) -> None:
    state = ContactState(REF, "+12125550123", segments={"last_activity": last_activity})
    with logged.begin() as conn:
        ctx = contact_context.load(conn, state)
    assert (ctx.last_rep_activity_at is not None) is is_rep
    if is_rep and "T" in last_activity:
        assert ctx.last_rep_activity_at == datetime.fromisoformat(last_activity)
