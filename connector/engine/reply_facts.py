"""The facts a reply's task needs beyond the text itself: the play it answers, the person's
name, the latest texts with the number, the owner's zone and the candidate records' links.

The owner's zone is the CRM's (Salesforce User.TimeZoneSidKey), else the mapping's
`tasks.owner_time_zone`, else the SLA calendar's zone. Owner look-ups go through the
engine's cached directory (`engine.owners`), which the pull fills, so a reply rarely costs a
CRM call; a CRM that cannot answer leaves the mapping's zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from connector.domain.model import OPTED_OUT, ContactState, CrmRef, Message
from connector.engine import crm_records
from connector.engine.context import EngineContext
from connector.engine.reply_policy import DEFAULT_HOURS
from connector.engine.task_text import person_name, thread_of
from connector.engine.tasks import ReplyFacts
from connector.ports import Connection, RecordLinks
from connector.store import contacts, messages


def play_answered(
    ctx: EngineContext, conn: Connection, message: Message, states: Sequence[ContactState]
) -> str | None:
    """The last play that texted this number within `tasks.reply_window`; else the
    record's active motion (a play the CRM names, whose text smsync did not send)."""
    since = message.at - ctx.mapping.tasks.reply_window
    found = messages.last_play_to(conn, message.from_, since)
    return found or next((s.active_motion for s in states if s.active_motion), None)


def owner_zone(ctx: EngineContext, owner_id: str | None) -> ZoneInfo:
    if owner_id:
        owner = ctx.owner_names.lookup(ctx.crm, [owner_id]).get(owner_id)
        if owner is not None and owner.time_zone:
            try:
                return ZoneInfo(owner.time_zone)
            except (ValueError, KeyError):  # a zone this machine does not know
                pass
    return default_zone(ctx)


def default_zone(ctx: EngineContext) -> ZoneInfo:
    """`tasks.owner_time_zone`, else the SLA calendar's zone, else smsync's default."""
    configured = ctx.mapping.tasks.owner_time_zone
    if configured:
        return ZoneInfo(configured)
    hours = ctx.mapping.sla.business_hours if ctx.mapping.sla is not None else None
    return ZoneInfo(hours.time_zone) if hours is not None else DEFAULT_HOURS.zone


def reply_facts(
    ctx: EngineContext,
    conn: Connection,
    *,
    message: Message,
    state: ContactState | None,
    owner_id: str | None,
    rule: str,
    within: timedelta | None,
) -> ReplyFacts:
    """The facts for one reply; `state` is the one record the number is on, if any (the
    conversation is that record's texts, else the reply alone)."""
    limit = ctx.mapping.tasks.conversation_messages
    texts = messages.for_contact(conn, state.ref, limit=limit) if state is not None else []
    if all(m.sid != message.sid for m in texts):
        texts.append(message)
    name = person_name(state, message.from_)
    return ReplyFacts(
        name=name,
        thread=thread_of(texts, name, limit),
        zone=owner_zone(ctx, owner_id),
        rule=rule,
        within=within,
    )


def record_links(ctx: EngineContext, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
    crm = ctx.crm
    if not isinstance(crm, RecordLinks):
        return {}
    return {ref: crm.record_url(ref) for ref in refs}


def record_changed(
    ctx: EngineContext, conn: Connection, state: ContactState, keys: set[str]
) -> bool:
    """Queue the record's kept fields `keys` (`crm_records.record_fields`), the SMS thread
    in its owner's zone."""
    return crm_records.record_fields(
        conn,
        state.ref,
        keys,
        ctx.clock.now(),
        zone=owner_zone(ctx, state.owner_id) if "sms_thread" in keys else None,
        thread_messages=ctx.mapping.activity.thread_messages,
    )


# Dispositions that end the active motion (the play has its outcome).
ENDS_MOTION = frozenset({OPTED_OUT, "wrong_number"})


def _ended_since(conn: Connection, state: ContactState, message: Message) -> bool:
    """The person already answered this text with a reply that ended the motion: a status
    callback that arrives after the opt-out must not start the motion again."""
    if state.disposition not in ENDS_MOTION or not state.phone:
        return False
    replied = messages.last_inbound_at(conn, state.phone)
    return replied is not None and replied >= message.at


def in_motion(ctx: EngineContext, conn: Connection, message: Message, target: CrmRef) -> bool:
    """An outbound text settled: the record's SMS thread shows it, and a play's text puts
    the record in that play's motion (`active_motion`, until the next play's text, an
    opt-out or a wrong number ends it: `ENDS_MOTION`)."""
    state = contacts.get(conn, target)
    if state is None:
        return False
    keys = {"sms_thread"}
    starts = message.play and state.active_motion != message.play
    if starts and not _ended_since(conn, state, message):
        contacts.set_motion(conn, target, active_motion=message.play, now=ctx.clock.now())
        keys.add("active_motion")
    return record_changed(ctx, conn, state, keys)
