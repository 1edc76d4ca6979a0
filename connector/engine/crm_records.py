"""The CRM records a text causes, by their deterministic external ids (a replayed write
is an upsert, never a second record):

    sms:<sid>                  the activity logging one text
    task:<sid>:<kind>          a task a reply or a breach causes (see `engine/tasks.py`)
    fields:record:<type>/<id>  the fields smsync keeps on a record: disposition, journey,
                               active motion, SLA due/breached, the SMS thread
    fields:<sid>:<type>/<id>   a field a text sets once (the number marked invalid)
    consent:<key>:<type>/<id>  consent fields brought in line with the ledger

The record's kept fields travel in ONE outbox row per record (`record_fields`), folded by
`outbox.put` (later values win, the row pending again), so two changes never race each
other to the CRM and the CRM ends equal to the store. Each value is read from the store
when queued; a key the mapping does not place is dropped by the adapter."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from connector.domain.model import CrmRef, CrmWrite, Message
from connector.engine import outbox
from connector.engine.task_text import person_name, thread_of
from connector.ports import Connection
from connector.store import contacts, messages, sla

RECORD_PREFIX = "fields:record:"
# what `record_fields` may be asked for; "sla" stands for sla_due and sla_breached
KEPT = frozenset({"disposition", "journey_state", "active_motion", "sla", "sms_thread"})


def activity_id(sid: str) -> str:
    return f"sms:{sid}"


def task_id(sid: str, kind: str) -> str:
    return f"task:{sid}:{kind}"


def fields_id(key: str, target: CrmRef) -> str:
    return f"fields:{key}:{target.object_type}/{target.id}"


def record_id(target: CrmRef) -> str:
    return f"{RECORD_PREFIX}{target.object_type}/{target.id}"


def consent_id(key: str, target: CrmRef) -> str:
    return f"consent:{key}:{target.object_type}/{target.id}"


def activity(
    message: Message,
    target: CrmRef,
    *,
    disposition: str | None = None,
    owner_id: str | None = None,
) -> CrmWrite:
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
    return CrmWrite("activity", activity_id(message.sid), target, fields, owner_id=owner_id)


def logged(
    conn: Connection, message: Message, target: CrmRef, *, disposition: str | None = None
) -> CrmWrite:
    """The activity of a text, owned by the record's owner (automated and inbound texts
    are the owner's conversation; the integration user owns nothing a rep reads)."""
    state = contacts.get(conn, target) if target.id else None
    owner = state.owner_id if state is not None else None
    return activity(message, target, disposition=disposition, owner_id=owner)


def kept_fields(
    conn: Connection,
    target: CrmRef,
    keys: Iterable[str],
    *,
    zone: ZoneInfo | None = None,
    thread_messages: int = 10,
) -> dict[str, object]:
    """The store's values of the kept fields `keys` for one record."""
    wanted = set(keys)
    unknown = wanted - KEPT
    if unknown:
        raise ValueError(f"not a kept field: {sorted(unknown)}")
    state = contacts.get(conn, target)
    out: dict[str, object] = {}
    if state is None:
        return out
    if "disposition" in wanted and state.disposition:
        out["disposition"] = state.disposition
    if "journey_state" in wanted and state.journey_state:
        out["journey_state"] = state.journey_state
    if "active_motion" in wanted:
        out["active_motion"] = state.active_motion
    if "sla" in wanted:
        out.update(sla_fields(conn, target))
    if "sms_thread" in wanted:
        texts = messages.for_contact(conn, target, limit=thread_messages)
        name = person_name(state, state.phone or "")
        out["sms_thread"] = thread_of(texts, name, thread_messages).lines(zone or ZoneInfo("UTC"))
    return out


def sla_fields(conn: Connection, target: CrmRef) -> dict[str, object]:
    """What the record's SLA fields say of its latest timer: open, the due time; breached
    and unanswered, the missed due time and the flag; met (or none), both cleared."""
    entry = sla.latest(conn, target)
    if entry is None or entry.timer.met is not None:
        return {"sla_due": None, "sla_breached": False}
    return {"sla_due": entry.timer.due, "sla_breached": entry.timer.breached is not None}


def record_fields(
    conn: Connection,
    target: CrmRef,
    keys: Iterable[str],
    now: datetime,
    *,
    zone: ZoneInfo | None = None,
    thread_messages: int = 10,
) -> bool:
    """Queue the record's kept fields `keys` as the store has them now, folded into the
    record's one outbox row. True when something new will be written."""
    fields = kept_fields(conn, target, keys, zone=zone, thread_messages=thread_messages)
    if not fields:
        return False
    return outbox.put(conn, CrmWrite("field_update", record_id(target), target, fields), now)


FOLLOW_UP = "follow_up"  # the kind of the owner's follow-up task (`engine/tasks.py`)


def rep_answered(
    conn: Connection, target: CrmRef, at: datetime, now: datetime, *, close_task: bool = True
) -> bool:
    """A rep's text reached the person: the open timer is met, its follow-up task closed
    (unless `close_task` is False: the mapping's `rep_send.close_follow_up`) and the
    record's SLA fields cleared, in the caller's transaction. False: no open timer."""
    entry = sla.open_timer(conn, target)
    if entry is None or sla.meet(conn, target, entry.timer.kind, at) is None:
        return False
    if entry.source_sid and close_task:
        done = CrmWrite("task", task_id(entry.source_sid, FOLLOW_UP), target, {"status": "done"})
        outbox.put(conn, done, now)
    record_fields(conn, target, {"sla"}, now)
    return True
