"""Sweep: meet SLA timers the rep answered, breach the ones that fell due, escalate.

A timer is met when the rep answers:
- an outbound manual send through the connector to the contact after the timer started
  (an `sms_outbox` row keyed ``manual:...`` or ``rep:...`` that reached the provider),
  met at the send;
- or the follow-up task (``task:<sid>:follow_up``) marked done in the CRM, which the sweep
  asks the CRM about (`CrmPort.completed_tasks`) before breaching; met when the CRM says
  the rep closed it (a sweep that runs late must not turn an on-time close into a breach),
  kept between the timer's start and the sweep, or at the sweep when the CRM holds no
  time. The CRM is asked outside the database transaction; if it cannot answer, the sweep
  goes on without it (a breach is never held back by an outage).

A breach writes, in one transaction with the timer's state: the record's breached flag
(and the due time), the follow-up task's raised priority, and an escalation task for the
team lead (`routing.escalation_owner`). `sla.escalate` runs once per timer, so a replayed
sweep writes nothing new. A met timer is never breached nor escalated.

Every met, breached or escalated timer also queues the record's SLA fields
(`crm_records.record_fields`), and the sweep ends the motions no play has kept up
(`journey.ended_motions`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from connector.domain import sla as sla_rules
from connector.domain.model import CrmRef, CrmWrite
from connector.domain.routing import escalation_owner
from connector.engine import crm_records, journey, outbox, tasks
from connector.engine.context import EngineContext
from connector.engine.outbox_keys import HUMAN_PREFIXES
from connector.engine.reply_policy import ReplyPolicy
from connector.errors import SmsyncError
from connector.ports import Connection
from connector.store import contacts, sla, sms_outbox
from connector.store.records import SlaEntry

log = structlog.get_logger(__name__)


@dataclass
class SweepReport:
    met: int = 0
    met_in_crm: int = 0
    breached: int = 0
    escalated: int = 0
    crm_writes: int = 0


def _answered_at(conn: Connection, entry: SlaEntry) -> datetime | None:
    """When the rep first answered through the connector (a manual send, or a text from
    the CRM, that went out)."""
    return sms_outbox.first_sent(
        conn, entry.contact, entry.timer.started, key_prefix=HUMAN_PREFIXES
    )


def _open_timers(conn: Connection, limit: int = 1000) -> list[SlaEntry]:
    return sla.open_timers(conn, limit)


def _follow_ups_done(ctx: EngineContext) -> dict[str, datetime | None]:
    """Source sids of open timers whose follow-up task a rep closed in the CRM, with when
    the CRM says it was closed (None: it holds no time)."""
    with ctx.store.begin() as conn:
        sids = {e.source_sid for e in _open_timers(conn) if e.source_sid}
    if not sids:
        return {}
    by_task = {crm_records.task_id(sid, crm_records.FOLLOW_UP): sid for sid in sorted(sids)}
    try:
        done = ctx.crm.completed_tasks(list(by_task))
    except SmsyncError as exc:
        log.warning("sweep.completed_tasks_unavailable", error=type(exc).__name__)
        return {}
    return {by_task[ext]: at for ext, at in done.items() if ext in by_task}


def _met_in_crm_at(entry: SlaEntry, completed: datetime | None, now: datetime) -> datetime:
    """The CRM's completion time, never after the sweep (a CRM clock ahead of ours) nor
    before the timer started (a task closed before the reply that started it)."""
    if completed is None:
        return now
    return max(min(completed, now), entry.timer.started)


def run(ctx: EngineContext) -> SweepReport:
    policy = ReplyPolicy.from_mapping(ctx.mapping)
    report = SweepReport()
    closed = _follow_ups_done(ctx)
    with ctx.store.begin() as conn:
        now = ctx.clock.now()
        for entry in _open_timers(conn):
            answered = _answered_at(conn, entry)
            sid = entry.source_sid
            if answered is not None:
                _meet(conn, entry, answered, now, report, close_task=True)
            elif sid and sid in closed:
                at = _met_in_crm_at(entry, closed[sid], now)
                if _meet(conn, entry, at, now, report, close_task=False):
                    report.met_in_crm += 1
                    log.info("sweep.met_in_crm", correlation_id=sid, contact=str(entry.contact))
        for entry in sla.due(conn, now):
            # the store's `due <= now` includes the due instant, which is still on time
            if sla_rules.is_breached(entry.timer, now) and sla.breach(conn, entry.id, now):
                report.breached += 1
                report.crm_writes += int(
                    crm_records.record_fields(conn, entry.contact, {"sla"}, now)
                )
        for entry in sla.unescalated(conn):
            _escalate(policy, conn, entry=entry, now=now, report=report)
        report.crm_writes += journey.ended_motions(ctx.mapping, conn, now)
    if report.crm_writes:
        ctx.woke("writeback")
    return report


def _meet(
    conn: Connection,
    entry: SlaEntry,
    answered: datetime,
    now: datetime,
    report: SweepReport,
    *,
    close_task: bool,
) -> bool:
    """Meet the timer; `close_task` marks the follow-up task done (a rep who answered by
    text through smsync has not closed it in the CRM)."""
    if sla.meet(conn, entry.contact, entry.timer.kind, answered) is None:
        return False
    report.met += 1
    report.crm_writes += int(crm_records.record_fields(conn, entry.contact, {"sla"}, now))
    if close_task and entry.source_sid:
        done = CrmWrite(
            "task",
            crm_records.task_id(entry.source_sid, crm_records.FOLLOW_UP),
            entry.contact,
            {"status": "done"},
        )
        report.crm_writes += int(outbox.put(conn, done, now))
    return True


def _escalate(
    policy: ReplyPolicy,
    conn: Connection,
    *,
    entry: SlaEntry,
    now: datetime,
    report: SweepReport,
) -> None:
    state = contacts.get(conn, entry.contact)
    team = policy.team(state.owner_team if state else None)
    lead = escalation_owner(team, policy.escalation_owner_id or policy.fallback_owner_id)
    found = sla_rules.escalate(entry.timer, now, policy.task_priority, lead)
    if found is None or not sla.escalate(conn, entry.id, now):
        return
    report.escalated += 1
    ref: CrmRef = entry.contact
    writes: list[CrmWrite] = []
    # the breach flag and the missed due time, in the record's one kept-fields row
    report.crm_writes += int(crm_records.record_fields(conn, ref, {"sla"}, now))
    source = entry.source_sid or f"sla{entry.id}"
    if entry.source_sid:
        writes.append(tasks.priority_raise(entry.source_sid, ref, found.priority))
    assert entry.timer.breached is not None
    writes.append(
        tasks.escalation(
            source,
            ref,
            lead_id=found.lead_id,
            kind=found.task_kind,
            due=entry.timer.due,
            breached=entry.timer.breached,
        )
    )
    for write in writes:
        report.crm_writes += int(outbox.put(conn, write, now))
    log.info("sweep.escalated", contact=str(ref), lead=found.lead_id)
