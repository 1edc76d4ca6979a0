"""The CRM tasks a reply or a breach causes, each with its deterministic external id
(`crm_records.task_id`):

    task:<sid>:follow_up       the owner's follow-up for a reply that needs a human
    task:<sid>:review          the one review task for an unknown or shared number
    task:<sid>:opt_out_review  the owner's check of an opt-out read from a cue only
    task:<sid>:sla_escalation  the team lead's task when the follow-up's SLA is breached

Task text comes from the mapping's templates; phone numbers appear only masked."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import datetime

from connector.config import MappingConfig
from connector.domain.model import CrmRef, CrmWrite, Message, TaskPriority
from connector.engine.crm_records import task_id
from connector.logs import mask_phone

REVIEW_TARGET = CrmRef("review", "")  # no record: the adapters write an unlinked task
FOLLOW_UP = "follow_up"
REVIEW = "review"
OPT_OUT_REVIEW = "opt_out_review"


def render(template: str, values: Mapping[str, str]) -> str:
    return string.Template(template).safe_substitute(values)


def _values(
    message: Message,
    disposition: str,
    *,
    contact: str,
    owner: str | None,
    play: str | None,
    due: datetime | None,
    sla_kind: str | None,
) -> dict[str, str]:
    return {
        "contact_name": contact,
        "phone_masked": mask_phone(message.from_),
        "body": message.body,
        "disposition": disposition,
        "due": due.isoformat(timespec="minutes") if due else "no SLA",
        "owner_name": owner or "unassigned",
        "play": play or "none",
        "sla_kind": sla_kind or "no SLA",
    }


def follow_up(
    mapping: MappingConfig,
    message: Message,
    target: CrmRef,
    disposition: str,
    *,
    owner_id: str | None,
    due: datetime | None,
    sla_kind: str | None,
    play: str | None,
) -> CrmWrite:
    cfg = mapping.tasks
    values = _values(
        message,
        disposition,
        contact=str(target),
        owner=owner_id,
        play=play,
        due=due,
        sla_kind=sla_kind,
    )
    body = render(cfg.body, values).rstrip()
    track = cfg.talk_track(disposition)
    if track:
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
    *,
    owner_id: str | None,
    due: datetime | None,
) -> CrmWrite:
    """One task for the queue, whatever the number of records: it names them all."""
    masked = mask_phone(message.from_)
    if records:
        why = f"{masked} is on {len(records)} records: " + ", ".join(map(str, records))
    else:
        why = f"{masked} is on no CRM record"
    body = (
        f"{why}.\nThey wrote ({disposition}):\n\n{message.body}\n\n"
        "Find or merge the right record, then answer."
    )
    target = records[0] if records else REVIEW_TARGET
    return CrmWrite(
        "task",
        task_id(message.sid, REVIEW),
        target,
        {
            "kind": REVIEW,
            "subject": f"Review SMS reply ({disposition}) from {masked}",
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
    masked = mask_phone(message.from_)
    on = ", ".join(map(str, records)) if records else "no CRM record"
    body = (
        f"{masked} ({on}) wrote:\n\n{message.body}\n\n"
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
            "subject": f"Check an SMS opt-out from {masked}",
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
