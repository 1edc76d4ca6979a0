"""The CRM records a text causes, by their deterministic external ids (a replayed write
is an upsert, never a second record):

    sms:<sid>                  the activity logging one text
    task:<sid>:<kind>          a task a reply or a breach causes (see `engine/tasks.py`)
    fields:<sid>:<type>/<id>   disposition, journey and SLA fields a reply sets on a record
    consent:<key>:<type>/<id>  consent fields brought in line with the ledger

and the activity itself, which every text (in or out) writes."""

from __future__ import annotations

from connector.domain.model import CrmRef, CrmWrite, Message


def activity_id(sid: str) -> str:
    return f"sms:{sid}"


def task_id(sid: str, kind: str) -> str:
    return f"task:{sid}:{kind}"


def fields_id(key: str, target: CrmRef) -> str:
    return f"fields:{key}:{target.object_type}/{target.id}"


def consent_id(key: str, target: CrmRef) -> str:
    return f"consent:{key}:{target.object_type}/{target.id}"


def activity(message: Message, target: CrmRef, *, disposition: str | None = None) -> CrmWrite:
    fields: dict[str, object] = {
        "message_sid": message.sid,
        "direction": message.direction.value,
        "body": message.body,
        "at": message.at,
        "status": message.status.value,
        "phone": message.from_ if message.direction.value == "inbound" else message.to,
    }
    if message.play:
        fields["play"] = message.play
    if disposition:
        fields["disposition"] = disposition
    return CrmWrite("activity", activity_id(message.sid), target, fields)
