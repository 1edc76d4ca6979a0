"""The CRM tasks a reply or a breach causes, each with its deterministic external id
(`crm_records.task_id`):

    task:<sid>:follow_up       the owner's follow-up for a reply that needs a human
    task:<sid>:review          the one review task for an unknown or shared number
    task:<sid>:opt_out_review  the owner's check of an opt-out read from a cue only
    task:<sid>:sla_escalation  the team lead's task when the follow-up's SLA is breached

Task text comes from the mapping's templates (`$name $gist`, `$conversation`,
`$due_local`, ...: `mapping_types.TEMPLATE_PLACEHOLDERS`). A task is read by reps, who may
see a whole number in the CRM; only logs mask it."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connector.config import MappingConfig
from connector.domain.model import CrmRef, CrmWrite, Message, TaskPriority
from connector.domain.sla import due_words, duration_words
from connector.engine.crm_records import FOLLOW_UP, task_id
from connector.engine.task_text import Thread, gist, record_lines
from connector.logs import mask_phone

REVIEW_TARGET = CrmRef("review", "")  # no record: the adapters write an unlinked task
REVIEW = "review"
OPT_OUT_REVIEW = "opt_out_review"


def render(template: str, values: Mapping[str, str]) -> str:
    return string.Template(template).safe_substitute(values)


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What the engine knows of a reply beyond the message: the person's name, the latest
    texts with the number, the owner's zone, the rule that matched and the SLA's length."""

    name: str
    thread: Thread
    zone: ZoneInfo
    rule: str = ""
    within: timedelta | None = None


def _values(
    message: Message,
    disposition: str,
    facts: ReplyFacts,
    *,
    target: CrmRef,
    owner: str | None,
    play: str | None,
    due: datetime | None,
    sla_kind: str | None,
    track: str | None,
) -> dict[str, str]:
    return {
        "contact_name": str(target),
        "name": facts.name,
        "gist": gist(disposition),
        "phone": message.from_,
        "phone_masked": mask_phone(message.from_),
        "body": message.body,
        "conversation": facts.thread.lines(facts.zone),
        "disposition": disposition,
        "rule": facts.rule or "none",
        "talk_track": track or "none for this disposition",
        "due": due.isoformat(timespec="minutes") if due else "no SLA",
        "due_local": due_words(due, facts.within, facts.zone) if due else "when you can (no SLA)",
        "sla_words": duration_words(facts.within) if facts.within else "no SLA",
        "owner_name": owner or "unassigned",
        "play": play or "none",
        "answering": f', answering play "{play}"' if play else "",
        "sla_kind": sla_kind or "no SLA",
    }


def follow_up(
    mapping: MappingConfig,
    message: Message,
    target: CrmRef,
    disposition: str,
    facts: ReplyFacts,
    *,
    owner_id: str | None,
    due: datetime | None,
    sla_kind: str | None,
    play: str | None,
    track: str | None = None,
) -> CrmWrite:
    """The owner's follow-up; `track` overrides the mapping's talk track (a tracked
    link's own, for a click: `engine/clicks.py`)."""
    cfg = mapping.tasks
    track = track or cfg.talk_track(disposition)
    values = _values(
        message,
        disposition,
        facts,
        target=target,
        owner=owner_id,
        play=play,
        due=due,
        sla_kind=sla_kind,
        track=track,
    )
    body = render(cfg.body, values).rstrip()
    if track and "talk_track" not in string.Template(cfg.body).get_identifiers():
        body += f"\n\nTalk track ({disposition}): {track}"
    return CrmWrite(
        "task",
        task_id(message.sid, FOLLOW_UP),
        target,
        {
            "kind": FOLLOW_UP,
            "subject": render(cfg.subject, values),
            "body": body,
            "status": "open",
        },
        owner_id=owner_id,
        due=due,
    )


def review(
    message: Message,
    records: Sequence[CrmRef],
    disposition: str,
    facts: ReplyFacts,
    *,
    links: Mapping[CrmRef, str | None],
    owner_id: str | None,
    due: datetime | None,
) -> CrmWrite:
    """One task for the queue, whatever the number of records: it names them all, with
    links, and the whole number (reps may read it in the CRM; logs mask it)."""
    phone = message.from_
    if records:
        why = f"{phone} is on {len(records)} records:\n{record_lines(records, links)}"
    else:
        why = f"{phone} is on no CRM record."
    when = due_words(due, facts.within, facts.zone) if due else "when you can"
    body = (
        f"{why}\n\nThey wrote ({disposition}, {gist(disposition)}):\n\n"
        f"{facts.thread.lines(facts.zone)}\n\n"
        f"Find or merge the right record, then answer {when}."
    )
    target = records[0] if records else REVIEW_TARGET
    return CrmWrite(
        "task",
        task_id(message.sid, REVIEW),
        target,
        {
            "kind": REVIEW,
            "subject": f"Review SMS from {phone}: {gist(disposition)} (SMS)",
            "body": body,
            "status": "open",
        },
        owner_id=owner_id,
        due=due,
    )


def opt_out_review(
    message: Message,
    records: Sequence[CrmRef],
    verdict: str,
    *,
    owner_id: str | None,
    due: datetime | None,
) -> CrmWrite:
    """An opt-out smsync was unsure of: already honoured (the number gets no more texts);
    a person checks it and, if it was no opt-out, asks for an explicit opt-in."""
    phone = message.from_
    on = ", ".join(map(str, records)) if records else "no CRM record"
    body = (
        f"{phone} ({on}) wrote:\n\n{message.body}\n\n"
        f"smsync read this as an opt-out ({verdict}) and no longer texts the number.\n"
        "If they did not mean to opt out, ask them to text START, or record their opt-in"
        " (source web form or manual, with its time) on the record."
    )
    return CrmWrite(
        "task",
        task_id(message.sid, OPT_OUT_REVIEW),
        records[0] if records else REVIEW_TARGET,
        {
            "kind": OPT_OUT_REVIEW,
            "subject": f"Check an SMS opt-out from {phone}",
            "body": body,
            "status": "open",
        },
        owner_id=owner_id,
        due=due,
    )


def escalation(
    source_sid: str,
    target: CrmRef,
    *,
    lead_id: str | None,
    kind: str,
    due: datetime,
    breached: datetime,
) -> CrmWrite:
    return CrmWrite(
        "task",
        task_id(source_sid, kind),
        target,
        {
            "kind": kind,
            "subject": f"SLA breached: SMS reply on {target} unanswered",
            "body": (
                f"The reply follow-up task:{source_sid}:{FOLLOW_UP} was due "
                f"{due.isoformat(timespec='minutes')} and is still open "
                f"(breached {breached.isoformat(timespec='minutes')})."
            ),
            "priority": "high",
            "status": "open",
        },
        owner_id=lead_id,
        due=breached,
    )


def priority_raise(source_sid: str, target: CrmRef, priority: TaskPriority) -> CrmWrite:
    return CrmWrite("task", task_id(source_sid, FOLLOW_UP), target, {"priority": priority})
