"""What the demo day did, counted from the sources of truth: the store (sends, decisions,
replies, consent, SLA timers, the CRM outbox), the sandbox's exact stats (CRM API calls and
records written), and the sandbox's listing by external id (duplicates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from connector.demo import reps
from connector.demo.crm_admin import CrmAdmin
from connector.demo.funnel import PipelineCounts
from connector.demo.world import World
from connector.domain.keywords import DEFAULT_OPT_OUT
from connector.domain.revocation import words
from connector.store import decisions, links
from connector.store import tables as tb
from connector.store.report_variants import HOLDOUT_ARM, ArmMember, arm_members

MEETING_PLAY = "meeting_confirmation"


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
    help_answers: int = 0
    opt_out_confirmations: int = 0
    natural_language_opt_outs: int = 0
    meeting_confirmations_converted: int = 0
    rep_replies: int = 0  # send records in the CRM that read "sent" (connector/demo/reps.py)
    sla_met: int = 0
    sla_missed: int = 0
    link_clicks: int = 0  # counted: people, not previewers (connector/demo/clicks.py)
    pipeline: PipelineCounts = field(default_factory=lambda: PipelineCounts(0, 0, 0))
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    # contacts texted per play variant ("speed_to_lead/direct"), as the report counts them
    variants_sent: dict[str, int] = field(default_factory=dict)

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
            "help_answers": self.help_answers,
            "variants_sent": dict(sorted(self.variants_sent.items())),
            "opt_out_confirmations": self.opt_out_confirmations,
            "natural_language_opt_outs": self.natural_language_opt_outs,
            "meeting_confirmations_converted": self.meeting_confirmations_converted,
            "rep_replies": self.rep_replies,
            "sla_met": self.sla_met,
            "sla_missed": self.sla_missed,
            "link_clicks": self.link_clicks,
            "meetings": self.pipeline.meetings,
            "opportunities": self.pipeline.opportunities,
            "won": self.pipeline.won,
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


def _sent_with_prefix(conn: sa.Connection, prefix: str) -> int:
    """Auto-replies smsync sent, by their outbox key (`help:<sid>`, ...)."""
    t = tb.sms_outbox
    return _scalar(
        conn,
        sa.select(sa.func.count()).where(
            t.c.idempotency_key.startswith(prefix, autoescape=True), t.c.state == "sent"
        ),
    )


def _natural_opt_outs(conn: sa.Connection) -> int:
    """Keyword opt-outs in the consent ledger that were not one carrier keyword alone:
    "please stop texting me", "No me envíes más mensajes", "STPO"."""
    t = tb.consent_ledger
    texts = conn.execute(
        sa.select(t.c.evidence_text).where(t.c.status == "opted_out", t.c.source == "keyword")
    ).scalars()
    bare = {(w,) for w in (k.lower() for k in DEFAULT_OPT_OUT)}
    return sum(1 for text in texts if text is not None and words(text) not in bare)


def _meetings_converted(conn: sa.Connection) -> int:
    """Contacts the meeting confirmation reached whose disposition is its outcome,
    `confirmed`: how `smsync report` counts the play's conversions."""
    sms, cs = tb.sms_outbox, tb.contact_state
    reached = (
        sa.select(sms.c.contact_type, sms.c.contact_id)
        .where(sms.c.play == MEETING_PLAY, sms.c.state == "sent")
        .distinct()
        .subquery()
    )
    return _scalar(
        conn,
        sa.select(sa.func.count())
        .select_from(
            reached.join(
                cs,
                sa.and_(
                    cs.c.crm_object_type == reached.c.contact_type,
                    cs.c.crm_id == reached.c.contact_id,
                ),
            )
        )
        .where(cs.c.disposition == "confirmed"),
    )


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
        help_answers = _sent_with_prefix(conn, "help:")
        confirmations = _sent_with_prefix(conn, "opt_out_confirmation:")
        natural = _natural_opt_outs(conn)
        converted = _meetings_converted(conn)
        arms = arm_members(conn, since=None, until=None, meeting=())
        clicked = links.counts(conn).get(links.COUNTED, 0)
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
        help_answers=help_answers,
        opt_out_confirmations=confirmations,
        natural_language_opt_outs=natural,
        meeting_confirmations_converted=converted,
        variants_sent=_variants_sent(arms),
        link_clicks=clicked,
    )
    figures = reps.figures(world)
    summary.rep_replies = figures.rep_replies
    summary.sla_met, summary.sla_missed = figures.sla_met, figures.sla_missed
    if figures.rep_replies != figures.rep_texts_sent:
        summary.notes.append(
            f"{figures.rep_texts_sent} rep text(s) sent, but {figures.rep_replies} CRM send"
            " record(s) read 'sent'"
        )
    if unsettled:
        summary.notes.append(f"{unsettled} CRM write(s) still queued at the end of the day")
    if failed:
        summary.notes.append(
            f"{failed} CRM write(s) failed or dead-lettered (see the retry ledger)"
        )
    return summary


def _variants_sent(arms: list[ArmMember]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in arms:
        if m.arm != HOLDOUT_ARM:
            key = f"{m.play}/{m.arm}"
            out[key] = out.get(key, 0) + int(m.sent)
    return out


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
        ("  opt-outs in other words", f"{summary.natural_language_opt_outs}", "consent ledger"),
        ("opt-out confirmations sent", f"{summary.opt_out_confirmations}", "SMS outbox: sent"),
        ("HELP answers sent", f"{summary.help_answers}", "SMS outbox: sent"),
        *(
            (f"texted in variant {arm}", f"{n}", "decision log + messages")
            for arm, n in sorted(summary.variants_sent.items())
        ),
        (
            "meeting confirmations confirmed",
            f"{summary.meeting_confirmations_converted}",
            "contact state",
        ),
        ("reps' texts from the CRM", f"{summary.rep_replies}", "CRM send records: sent"),
        ("SLAs met / missed", f"{summary.sla_met} / {summary.sla_missed}", "SLA timers"),
        ("tracked-link clicks (people)", f"{summary.link_clicks}", "link clicks: counted"),
        ("SLA breaches (escalated)", f"{summary.sla_breaches}", "SLA timers"),
        ("meetings held", f"{summary.pipeline.meetings}", "pipeline pulled from the CRM"),
        ("opportunities", f"{summary.pipeline.opportunities}", "pipeline pulled from the CRM"),
        ("won", f"{summary.pipeline.won}", "pipeline pulled from the CRM"),
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
