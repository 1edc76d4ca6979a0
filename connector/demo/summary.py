"""What the demo day did, counted from the sources of truth: the store (sends, decisions,
replies, consent, SLA timers, the CRM outbox), the sandbox's exact stats (CRM API calls and
records written), and the sandbox's listing by external id (duplicates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from connector.demo.crm_admin import CrmAdmin
from connector.demo.world import World
from connector.store import decisions
from connector.store import tables as tb


@dataclass
class Summary:
    crm: str
    contacts: int
    sms_sent: int
    sms_blocked: dict[str, int]
    sms_deferred: int
    replies_ingested: int
    activities_logged: int
    tasks_created: int
    consent_changes: int
    sla_breaches: int
    crm_api_calls: int
    crm_records_written: int
    duplicate_crm_records: int
    missing_crm_records: int
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "crm": self.crm,
            "contacts": self.contacts,
            "sms_sent": self.sms_sent,
            "sms_blocked": dict(sorted(self.sms_blocked.items(), key=lambda kv: (-kv[1], kv[0]))),
            "sms_deferred": self.sms_deferred,
            "replies_ingested": self.replies_ingested,
            "activities_logged": self.activities_logged,
            "tasks_created": self.tasks_created,
            "consent_changes": self.consent_changes,
            "sla_breaches": self.sla_breaches,
            "crm_api_calls": self.crm_api_calls,
            "crm_records_written": self.crm_records_written,
            "duplicate_crm_records": self.duplicate_crm_records,
            "missing_crm_records": self.missing_crm_records,
            "wall_s": round(self.wall_s, 2),
        }


def _scalar(conn: sa.Connection, stmt: sa.Select[Any]) -> int:
    return int(conn.execute(stmt).scalar_one() or 0)


def _written_ids(conn: sa.Connection, kind: str) -> list[str]:
    t = tb.crm_outbox
    return list(
        conn.execute(
            sa.select(t.c.external_id)
            .where(t.c.kind == kind, t.c.state == "done")
            .distinct()
            .order_by(t.c.external_id)
        ).scalars()
    )


def _listing(world: World, kind: str, external_ids: list[str]) -> tuple[int, int]:
    """(duplicates, missing) among the records the sandbox holds for these external ids:
    a count above 1 is a duplicate the connector made; 0 is a write it lost."""
    m = world.mapping
    obj, ext = (
        (m.activity.object, m.activity.external_id_field)
        if kind == "activity"
        else (m.tasks.object, m.tasks.external_id_field)
    )
    emulator = world.sandbox.emulators[world.crm]
    duplicates = missing = 0
    for external_id in external_ids:
        found = len(emulator.find(obj, ext, external_id))
        duplicates += max(found - 1, 0)
        missing += found == 0
    return duplicates, missing


def collect(world: World, admin: CrmAdmin, contacts: int, consent_baseline: int) -> Summary:
    ob, sms, inbox, sla_t = tb.crm_outbox, tb.sms_outbox, tb.inbox, tb.sla_timers
    with world.store.begin() as conn:
        sent = _scalar(conn, sa.select(sa.func.count()).where(sms.c.state == "sent"))
        blocked = decisions.blocked_reasons(conn)
        deferred = _scalar(
            conn,
            sa.select(sa.func.count())
            .select_from(tb.decision_log)
            .where(tb.decision_log.c.verdict == "defer"),
        )
        replies = _scalar(
            conn,
            sa.select(sa.func.count()).where(
                inbox.c.kind == "inbound", inbox.c.processed_at.is_not(None)
            ),
        )
        consent = _scalar(conn, sa.select(sa.func.count()).select_from(tb.consent_ledger))
        breaches = _scalar(conn, sa.select(sa.func.count()).where(sla_t.c.breached.is_not(None)))
        activities = _written_ids(conn, "activity")
        task_ids = _written_ids(conn, "task")
        unsettled = _scalar(
            conn, sa.select(sa.func.count()).where(ob.c.state.not_in(("done", "failed", "dead")))
        )
        failed = _scalar(conn, sa.select(sa.func.count()).where(ob.c.state.in_(("failed", "dead"))))
    dup_a, miss_a = _listing(world, "activity", activities)
    dup_t, miss_t = _listing(world, "task", task_ids)
    stats = world.sandbox.state.stats
    summary = Summary(
        crm=world.crm,
        contacts=contacts,
        sms_sent=sent,
        sms_blocked=blocked,
        sms_deferred=deferred,
        replies_ingested=replies,
        activities_logged=len(activities),
        tasks_created=len(task_ids),
        consent_changes=consent - consent_baseline,
        sla_breaches=breaches,
        crm_api_calls=stats.calls(world.crm) - admin.calls,
        crm_records_written=stats.records_written(world.crm) - admin.written,
        duplicate_crm_records=dup_a + dup_t,
        missing_crm_records=miss_a + miss_t,
    )
    if unsettled:
        summary.notes.append(f"{unsettled} CRM write(s) still queued at the end of the day")
    if failed:
        summary.notes.append(
            f"{failed} CRM write(s) failed or dead-lettered (see the retry ledger)"
        )
    return summary


def render(summary: Summary, console: Console) -> None:
    """The human summary: one table, the blocked reasons broken out."""
    table = Table(title=f"smsync demo: one business day on {summary.crm}", show_lines=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    table.add_column("where it was counted", style="dim")
    rows: list[tuple[str, str, str]] = [
        ("contacts seeded", f"{summary.contacts}", "sandbox seed"),
        ("texts sent", f"{summary.sms_sent}", "SMS outbox: sent"),
        ("texts deferred (quiet hours, delays)", f"{summary.sms_deferred}", "decision log"),
        ("texts blocked", f"{sum(summary.sms_blocked.values())}", "decision log"),
    ]
    rows += [
        (f"  blocked: {reason}", f"{count}", "decision log")
        for reason, count in summary.to_json()["sms_blocked"].items()
    ]
    rows += [
        ("replies ingested", f"{summary.replies_ingested}", "inbox: processed"),
        ("activities logged in the CRM", f"{summary.activities_logged}", "CRM outbox: done"),
        ("tasks created in the CRM", f"{summary.tasks_created}", "CRM outbox: done"),
        ("consent changes", f"{summary.consent_changes}", "consent ledger"),
        ("SLA breaches (escalated)", f"{summary.sla_breaches}", "SLA timers"),
        ("CRM API calls", f"{summary.crm_api_calls}", "sandbox stats"),
        ("CRM records written", f"{summary.crm_records_written}", "sandbox stats"),
        (
            "duplicate CRM records",
            f"{summary.duplicate_crm_records}",
            "sandbox, by external id",
        ),
        ("missing CRM records", f"{summary.missing_crm_records}", "sandbox, by external id"),
        ("wall time", f"{summary.wall_s:.1f} s", ""),
    ]
    for what, count, where in rows:
        style = None
        if what.startswith(("duplicate", "missing")):
            style = "green" if count == "0" else "bold red"
        table.add_row(what, count, where, style=style)
    console.print(table)
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
