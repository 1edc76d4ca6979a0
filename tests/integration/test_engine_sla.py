"""Issue 7 acceptance 2: a reply's SLA falls due in business hours across a weekend and a
DST change, and the sweep breaches and escalates it at exactly that time (clock frozen),
once. Runs over SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import Settings, load_mapping
from connector.domain import sla as sla_rules
from connector.domain.model import ContactState, CrmRef, CrmWrite, WriteResult
from connector.engine import ingest, sweep
from connector.engine.context import EngineContext
from connector.errors import RetriableError
from connector.ports import Cursor, Owner, PullBatch
from connector.store import SqlStore, contacts, crm_outbox, inbox, sla
from connector.store.records import SlaEntry

pytest_plugins = ["tests.integration.store_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+12125550123"
REF = CrmRef("Lead", "00Q000000000001AAA")
OWNER = "005000000000001AAA"
LEAD = "005000000000009AAA"  # the East team's lead in mappings/salesforce.yaml
# Friday 6 March 2026, 16:30 in New York (EST). Clocks spring forward on Sunday 8 March.
REPLY_AT = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)
# pricing_question: 4 business hours. Friday 16:30-17:30 is one; Monday 9 March opens at
# 09:00 EDT (13:00 UTC), so the other three end at 12:00 EDT = 16:00 UTC.
DUE = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
SID = "SM" + "a" * 32


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class TaskStatusCrm:
    """The SLA path only asks the CRM which follow-up tasks a rep closed (the record is
    known locally); anything else fails the test."""

    def __init__(self) -> None:
        self.done: dict[str, datetime | None] = {}  # external id -> the CRM's completion time
        self.asked: list[list[str]] = []
        self.down = False

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        raise AssertionError("pull is not part of this test")

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        raise AssertionError("the record is known locally")

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        raise AssertionError("writeback is not part of this test")

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        self.asked.append(list(external_ids))
        if self.down:
            raise RetriableError("CRM unavailable")
        return {ext: at for ext, at in self.done.items() if ext in external_ids}

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}  # no owner names: templates fall back

    def probe(self) -> None:
        raise AssertionError("writeback is not part of this test")


@pytest.fixture
def ctx(store: SqlStore) -> EngineContext:
    return EngineContext(
        settings=Settings(),
        mapping=load_mapping(ROOT / "mappings" / "salesforce.yaml"),
        store=store,
        crm=TaskStatusCrm(),
        sms=None,
        clock=FrozenClock(REPLY_AT),
        worker_id="test",
    )


def _at(ctx: EngineContext, when: datetime) -> None:
    clock = ctx.clock
    assert isinstance(clock, FrozenClock)
    clock.at = when


def _crm(ctx: EngineContext) -> TaskStatusCrm:
    crm = ctx.crm
    assert isinstance(crm, TaskStatusCrm)
    return crm


def _reply(ctx: EngineContext) -> None:
    """The pricing question that needs a human: a follow-up task and an SLA timer."""
    with ctx.store.begin() as conn:
        contacts.upsert(
            conn,
            ContactState(ref=REF, phone=PHONE, owner_id=OWNER, owner_team="East"),
            REPLY_AT,
        )
        payload = {
            "source": "webhook",
            "sid": SID,
            "from": PHONE,
            "to": "+15005550006",
            "body": "How much does it cost?",
            "at": REPLY_AT.isoformat(),
            "opt_out_type": None,
        }
        inbox.insert_if_new(conn, SID, "inbound", payload, REPLY_AT)
    report = ingest.run(ctx)
    assert report.processed == 1
    assert report.tasks == 1


def test_breach_and_escalation_at_the_business_hours_due_time(ctx: EngineContext) -> None:
    _reply(ctx)
    # the CRM cannot say whether the task was closed: the breach still happens on time
    _crm(ctx).down = True
    with ctx.store.begin() as conn:
        timers = sla.for_contact(conn, REF)
        task = crm_outbox.get(conn, f"task:{SID}:follow_up")
        fields = crm_outbox.get(conn, f"fields:record:Lead/{REF.id}")
    assert [t.timer.due for t in timers] == [DUE]
    assert task is not None
    assert task.write.owner_id == OWNER
    assert task.write.due == DUE
    assert "Talk track: Share the current price sheet" in str(task.write.fields["body"])
    assert fields is not None
    assert fields.write.fields["disposition"] == "pricing_question"
    assert fields.write.fields["sla_due"] == DUE.isoformat()
    assert fields.write.fields["sla_breached"] is False

    # Saturday, Sunday and Monday morning before the due instant: nothing breaches
    for when in (
        datetime(2026, 3, 7, 18, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 18, 0, tzinfo=UTC),
        DUE - timedelta(seconds=1),
        DUE,
    ):
        _at(ctx, when)
        assert sweep.run(ctx).breached == 0

    _at(ctx, DUE + timedelta(seconds=1))
    first = sweep.run(ctx)
    assert first.breached == 1
    assert first.escalated == 1
    with ctx.store.begin() as conn:
        escalation = crm_outbox.get(conn, f"task:{SID}:sla_escalation")
        raised = crm_outbox.get(conn, f"task:{SID}:follow_up")
        flag = crm_outbox.get(conn, f"fields:record:Lead/{REF.id}")
        timer = sla.get(conn, timers[0].id)
    assert escalation is not None
    assert escalation.write.owner_id == LEAD
    assert raised is not None
    assert raised.write.fields["priority"] == "high"
    assert raised.write.fields["subject"]  # the raise kept the task's own text
    assert flag is not None
    assert flag.write.fields["sla_breached"] is True
    assert flag.write.fields["sla_due"] == DUE.isoformat()  # the missed due time stays
    assert timer is not None
    assert timer.timer.breached == DUE + timedelta(seconds=1)
    assert timer.timer.escalated is not None

    # a replayed sweep escalates nothing twice
    _at(ctx, DUE + timedelta(hours=1))
    again = sweep.run(ctx)
    assert (again.breached, again.escalated, again.crm_writes) == (0, 0, 0)
    assert _crm(ctx).asked  # every sweep asked about the open timer's follow-up task


def test_follow_up_completed_in_the_crm_meets_the_timer(ctx: EngineContext) -> None:
    """The CRM holds no completion time: the timer is met at the sweep that learns of it."""
    _reply(ctx)
    follow_up = f"task:{SID}:follow_up"
    _at(ctx, datetime(2026, 3, 9, 14, 0, tzinfo=UTC))  # Monday 10:00 EDT, before the due
    assert sweep.run(ctx).met == 0  # still open in the CRM
    assert _crm(ctx).asked[-1] == [follow_up]

    rep_closed = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    _crm(ctx).done[follow_up] = None
    _at(ctx, rep_closed)
    met = sweep.run(ctx)
    assert (met.met, met.met_in_crm, met.breached, met.escalated) == (1, 1, 0, 0)
    # the task is already closed in the CRM: only the record's SLA fields are cleared
    assert met.crm_writes == 1

    asked = len(_crm(ctx).asked)
    _at(ctx, DUE + timedelta(hours=1))
    after = sweep.run(ctx)
    assert (after.met, after.breached, after.escalated, after.crm_writes) == (0, 0, 0, 0)
    _assert_met_quietly(ctx, met_at=rep_closed)
    assert len(_crm(ctx).asked) == asked  # no open timer left to ask about


def test_a_task_closed_before_the_due_time_is_met_then_however_late_the_sweep(
    ctx: EngineContext,
) -> None:
    """The rep closes the follow-up 30 minutes before the due time; the next sweep runs two
    hours after it (the service was down): met at the close, never breached nor escalated."""
    _reply(ctx)
    follow_up = f"task:{SID}:follow_up"
    rep_closed = DUE - timedelta(minutes=30)
    _crm(ctx).done[follow_up] = rep_closed
    _at(ctx, DUE + timedelta(hours=2))
    late = sweep.run(ctx)
    assert (late.met, late.met_in_crm, late.breached, late.escalated) == (1, 1, 0, 0)
    assert late.crm_writes == 1  # the record's SLA fields cleared
    timer = _assert_met_quietly(ctx, met_at=rep_closed)
    assert not sla_rules.is_breached(timer.timer, DUE + timedelta(hours=2))


@pytest.mark.parametrize(
    ("crm_says", "met"),
    [
        (REPLY_AT - timedelta(days=1), REPLY_AT),  # closed before the timer started
        (DUE + timedelta(hours=5), DUE + timedelta(hours=1)),  # the CRM's clock runs ahead
    ],
    ids=["before-the-timer-started", "after-the-sweep"],
)
def test_a_crm_completion_time_is_kept_between_the_timer_start_and_the_sweep(
    ctx: EngineContext, crm_says: datetime, met: datetime
) -> None:
    _reply(ctx)
    _crm(ctx).done[f"task:{SID}:follow_up"] = crm_says
    _at(ctx, DUE + timedelta(hours=1))
    report = sweep.run(ctx)
    assert (report.met, report.met_in_crm, report.breached) == (1, 1, 0)
    with ctx.store.begin() as conn:
        (timer,) = sla.for_contact(conn, REF)
    assert timer.timer.started == REPLY_AT
    assert timer.timer.met == met


def _assert_met_quietly(ctx: EngineContext, *, met_at: datetime) -> SlaEntry:
    """The timer was met at `met_at`: never breached nor escalated, no breach flag or
    escalation task queued, the follow-up's priority never raised."""
    with ctx.store.begin() as conn:
        (timer,) = sla.for_contact(conn, REF)
        escalation = crm_outbox.get(conn, f"task:{SID}:sla_escalation")
        flag = crm_outbox.get(conn, f"fields:record:Lead/{REF.id}")
        task = crm_outbox.get(conn, f"task:{SID}:follow_up")
    assert timer.timer.met == met_at
    assert timer.timer.breached is None
    assert timer.timer.escalated is None
    assert escalation is None
    assert flag is not None
    assert flag.write.fields["sla_due"] is None  # cleared, never flagged
    assert flag.write.fields["sla_breached"] is False
    assert task is not None
    assert task.write.fields.get("priority") != "high"  # never raised
    return timer
