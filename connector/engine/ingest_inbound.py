"""An inbound text: its message, consent, disposition and activity; the field updates on
every record of the number; the owned follow-up task with its SLA timer, or the one review
task of an unknown or shared number (or of an opt-out read from a cue only). Resolving a
number the local state does not know asks the CRM before the item's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from connector.domain.dispositions import Classification, classify
from connector.domain.model import (
    OPTED_OUT,
    ContactState,
    CrmRef,
    CrmWrite,
    Direction,
    Message,
    MessageStatus,
)
from connector.domain.phones import try_e164
from connector.domain.routing import route
from connector.domain.sla import add_business_time, start_timer
from connector.engine import compliance, crm_records, tasks
from connector.engine.context import EngineContext
from connector.engine.ingest_report import IngestReport, queue
from connector.engine.reply_facts import (
    ENDS_MOTION,
    play_answered,
    record_changed,
    record_links,
    reply_facts,
)
from connector.engine.reply_policy import ReplyPolicy, load_rotation, save_rotation, sla_for
from connector.engine.send import policy_of
from connector.logs import mask_phone
from connector.ports import Connection
from connector.store import contacts, messages, sla
from connector.store.records import InboxItem

log = structlog.get_logger(__name__)


def _parse_at(raw: Any, default: datetime) -> datetime:
    if isinstance(raw, str) and raw:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=default.tzinfo)
    return default


def resolve_remote(ctx: EngineContext, payload: dict[str, Any]) -> list[CrmRef]:
    """CRM records of the sender the local state does not know (a network call, so
    outside the item's transaction)."""
    phone = try_e164(str(payload.get("from") or ""))
    if phone is None:
        return []
    with ctx.store.begin() as conn:
        if contacts.find_by_phone(conn, phone):
            return []
    return sorted(ctx.crm.find_by_phone(phone), key=lambda r: (r.object_type, r.id))


def _address(payload: dict[str, Any], key: str) -> str:
    """A sender or recipient address as sent (E.164, or channel-prefixed such as
    ``whatsapp:+14155550123``); one holding a control character is refused for good."""
    value = str(payload.get(key) or "")
    if not value.isprintable():
        raise ValueError(f"the {key!r} address holds a control character")
    return value


def _message(item: InboxItem) -> Message:
    p = item.payload
    sender, to = _address(p, "from"), _address(p, "to")
    return Message(
        sid=str(p["sid"]),
        direction=Direction.INBOUND,
        from_=try_e164(sender) or sender,
        to=to,
        # a NUL means nothing in a text and Postgres cannot store one
        body=str(p.get("body") or "").replace("\x00", ""),
        status=MessageStatus.RECEIVED,
        at=_parse_at(p.get("at"), item.received_at),
        num_segments=int(p.get("num_segments") or 1),
    )


def inbound(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: Connection,
    *,
    item: InboxItem,
    extra: list[CrmRef],
    now: datetime,
    report: IngestReport,
) -> None:
    message = _message(item)
    sid, phone = message.sid, message.from_
    states = contacts.find_by_phone(conn, phone)
    refs = [s.ref for s in states] + [r for r in extra if r not in {s.ref for s in states}]
    primary = refs[0] if refs else None
    messages.upsert(conn, message, now, primary if len(refs) == 1 else None)
    opt_out_type = item.payload.get("opt_out_type")
    found = classify(
        message.body,
        policy.rules,
        opt_out_type=opt_out_type,
        sid=sid,
        at=message.at,
        keyword_rules=policy_of(ctx).keywords.rules,
        sender=compliance.sender(conn, phone, states),
    )
    name = found.name
    report.dispositions[name] += 1
    if found.compliance is not None:
        done = compliance.record(
            conn,
            policy_of(ctx),
            found=found,
            message=message,
            states=states,
            refs=refs,
            extra=extra,
            opt_out_type=opt_out_type,
            now=now,
        )
        report.consent_changes += done.consent_changes
        report.crm_writes += done.crm_writes
        report.auto_replies += done.auto_replies
    in_vocabulary = name in ctx.mapping.dispositions.vocabulary
    queue(
        conn,
        crm_records.logged(conn, message, primary or tasks.REVIEW_TARGET, disposition=name),
        now,
        report,
    )
    play = play_answered(ctx, conn, message, states)
    due: datetime | None = None
    single = states[0] if len(states) == 1 and len(refs) == 1 else None
    if single is not None and found.creates_task:
        due = _follow_up(
            ctx,
            policy,
            conn,
            state=single,
            message=message,
            found=found,
            now=now,
            play=play,
            report=report,
        )
    elif found.review or len(refs) != 1:
        _review(
            ctx,
            policy,
            conn,
            message=message,
            found=found,
            refs=refs,
            single=single,
            now=now,
            report=report,
        )
    journey = _journey_after(ctx, found)
    for state in states:
        keys = {"sms_thread"} if len(refs) == 1 else set()
        if in_vocabulary:
            contacts.set_disposition(conn, state.ref, name, now)
            keys.add("disposition")
        if name in ENDS_MOTION and state.active_motion:
            contacts.set_motion(conn, state.ref, active_motion=None, now=now)
            keys.add("active_motion")
        if journey is not None and journey != state.journey_state:
            contacts.set_motion(conn, state.ref, journey_state=journey, now=now)
            keys.add("journey_state")
        if due is not None and state.ref == primary:
            keys.add("sla")
        report.crm_writes += int(record_changed(ctx, conn, state, keys))
    for ref in refs:
        if in_vocabulary and ref not in {s.ref for s in states}:  # found in the CRM only
            write = CrmWrite(
                "field_update", crm_records.fields_id(sid, ref), ref, {"disposition": name}
            )
            queue(conn, write, now, report)


def _journey_after(ctx: EngineContext, found: Classification) -> str | None:
    """The journey state the mapping moves a record to after this reply, if any."""
    moves = ctx.mapping.journey
    if found.name == OPTED_OUT:
        return moves.on_opt_out
    if found.compliance is not None:  # HELP, START: no conversation yet
        return None
    return moves.on_reply


def rule_words(found: Classification) -> str:
    """The rule that decided the disposition and what in the text matched it."""
    rule = found.disposition.rule
    return f"{rule}, matched {found.matched}" if found.matched else rule


def _review(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: Connection,
    *,
    message: Message,
    found: Classification,
    refs: list[CrmRef],
    single: ContactState | None,
    now: datetime,
    report: IngestReport,
) -> None:
    """One review task, never one per record: an opt-out read from a cue only goes to the
    record's owner; an unknown or shared number to the review queue."""
    team = single.owner_team if single is not None else None
    within = sla_for(ctx.mapping, None, found.name)[1]
    due = add_business_time(message.at, within, policy.calendar(team))
    if found.review and found.compliance is not None:
        owner = single.owner_id if single is not None else None
        write = tasks.opt_out_review(
            message,
            refs,
            found.compliance.describe(),
            owner_id=owner or policy.review_owner_id,
            due=due,
        )
        event = "ingest.opt_out_review"
    else:
        facts = reply_facts(
            ctx,
            conn,
            message=message,
            state=single,
            owner_id=policy.review_owner_id,
            rule=rule_words(found),
            within=within,
        )
        write = tasks.review(
            message,
            refs,
            found.name,
            facts,
            links=record_links(ctx, refs),
            owner_id=policy.review_owner_id,
            due=due,
        )
        event = "ingest.review_task"
    queue(conn, write, now, report)
    report.reviews += 1
    log.info(event, sid=message.sid, phone=mask_phone(message.from_), records=len(refs))


def _follow_up(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: Connection,
    *,
    state: ContactState,
    message: Message,
    found: Classification,
    now: datetime,
    play: str | None,
    report: IngestReport,
) -> datetime:
    """The owned follow-up task and its SLA timer (an open timer is not restarted)."""
    team = policy.team(state.owner_team)
    rotation = load_rotation(conn, policy.teams)
    assignment = route(
        state.owner_id,
        team,
        rotation,
        owner_active=state.owner_id is not None and state.owner_id not in policy.inactive,
        fallback_owner_id=None,  # the adapter applies the mapping's fallback owner
    )
    save_rotation(conn, rotation, assignment.rotation, now)
    kind, within = sla_for(ctx.mapping, found.sla, found.name)
    timer = start_timer(kind, message.at, within, policy.calendar(state.owner_team))
    entry = sla.start(
        conn, state.ref, kind, started=timer.started, due=timer.due, source_sid=message.sid
    )
    due = entry.timer.due
    facts = reply_facts(
        ctx,
        conn,
        message=message,
        state=state,
        owner_id=assignment.owner_id or policy.fallback_owner_id,
        rule=rule_words(found),
        within=within,
    )
    write = tasks.follow_up(
        ctx.mapping,
        message,
        state.ref,
        found.name,
        facts,
        owner_id=assignment.owner_id,
        due=due,
        sla_kind=kind.value,
        play=play,
    )
    queue(conn, write, now, report)
    report.tasks += 1
    return due
