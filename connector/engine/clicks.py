"""Clicks on tracked links: recorded by the sidecar's `GET /l/{token}` (`record`), then
turned into CRM writes by the ingest step (`process`), exactly once.

`record` runs in the request's transaction and only reads the link row and inserts the
click (at most one row per link and flag, by a unique key): a previewer or a click within
a second of delivery is stored flagged and never counts. A counted click is processed
once (`links.mark_processed` decides between replicas) into, for the record:

    click:<sid>:<link>             the activity "Clicked pricing link from play X"
    task:click:<sid>:<link>:follow_up  when the link is high intent: the owner's follow-up
                                   task, routed like a reply's, with its SLA timer, the
                                   talk track and the conversation holding the text that
                                   carried the link

and a `link_clicked` signal for the plays. Both writes are upserts by external id, so a
crash between queueing and marking queues the same rows again, never a second record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import structlog

from connector.domain.links import ClickFlag, click_words, judge
from connector.domain.model import ContactState, CrmWrite, Direction, Message, MessageStatus
from connector.domain.routing import route
from connector.domain.signals import Signal, SignalKind
from connector.domain.sla import start_timer
from connector.engine import tasks
from connector.engine.context import EngineContext
from connector.engine.ingest_report import IngestReport, queue
from connector.engine.reply_facts import record_changed, reply_facts
from connector.engine.reply_policy import ReplyPolicy, load_rotation, save_rotation, sla_for
from connector.errors import FatalError
from connector.failures import describe
from connector.logs import mask_phone
from connector.ports import Connection
from connector.store import contacts, links, sla
from connector.store.links import PendingClick, TrackedLink

log = structlog.get_logger(__name__)

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
CLICKED = "link_clicked"  # the disposition-like name a click's task and talk track use
BATCH = 200


@dataclass(frozen=True, slots=True)
class Click:
    """What the endpoint needs to answer: where to send the person, and how the click
    was judged (`first`: this link's first click of that kind)."""

    destination: str
    flag: ClickFlag
    first: bool


def record(conn: Connection, token: str, user_agent: str | None, now: datetime) -> Click | None:
    """The click on `token`, recorded; None for a token that is malformed, unknown or
    expired (nothing is written then)."""
    if TOKEN_SHAPE.fullmatch(token) is None:
        return None
    found = links.for_click(conn, token)
    if found is None or found[0].expires_at <= now:
        return None
    link, delivered = found
    flag = judge(user_agent, delivered, now)
    first = links.record_click(conn, link, flag.value, user_agent, now)
    return Click(link.destination, flag, first)


def record_provider(
    conn: Connection, sid: str, url: str, user_agent: str | None, at: datetime
) -> Click | None:
    """A click the provider tracked (Twilio Link Shortening's callback: the message sid,
    the long link, the clicker's agent and time), judged and recorded like `record`'s;
    None (nothing written) when no text of ours with that sid carried that link."""
    found = links.for_provider_click(conn, sid, url)
    if found is None:
        return None
    link, delivered = found
    flag = judge(user_agent, delivered, at)
    first = links.record_click(conn, link, flag.value, user_agent, at)
    return Click(link.destination, flag, first)


def process(ctx: EngineContext, report: IngestReport, limit: int = BATCH) -> int:
    """Queue the CRM writes of the counted clicks not yet processed; returns how many."""
    policy: ReplyPolicy | None = None
    done = 0
    with ctx.store.begin() as conn:
        found = links.pending(conn, limit)
    for click in found:
        try:
            with ctx.store.begin() as conn:
                now = ctx.clock.now()
                if not links.mark_processed(conn, click.id, now):
                    continue  # another replica took it
                state = contacts.get(conn, click.link.contact) if click.link.contact else None
                if state is None:
                    continue  # the record is gone: the click stays recorded, nothing to write
                policy = policy or ReplyPolicy.from_mapping(ctx.mapping)
                _one(ctx, policy, conn, click=click, state=state, now=now, report=report)
                done += 1
        except FatalError:
            raise
        except Exception as exc:  # noqa: BLE001 - rolled back, so pending: the next run retries
            report.failed += 1
            log.warning("click.failed", link=click.link.link, error=describe(exc))
    report.clicks += done
    return done


def _carrier_sid(conn: Connection, link: TrackedLink) -> str:
    """The provider sid of the text that carried the link (its outbox id, if unknown)."""
    sid, _body = links.outbox_body(conn, link.outbox_id)
    return sid or f"outbox{link.outbox_id}"


def _one(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: Connection,
    *,
    click: PendingClick,
    state: ContactState,
    now: datetime,
    report: IngestReport,
) -> None:
    link = click.link
    sid = _carrier_sid(conn, link)
    words = click_words(link.link, link.play)
    key = f"click:{sid}:{link.link}"
    activity = CrmWrite(
        "activity",
        key,
        state.ref,
        {
            "message_sid": sid,
            "direction": "inbound",
            "body": words,
            "at": click.at,
            "status": "clicked",
            "phone": state.phone or "",
            **({"play": link.play} if link.play else {}),
        },
        owner_id=state.owner_id,
    )
    queue(conn, activity, now, report)
    if link.high_intent:
        _task(
            ctx,
            policy,
            conn,
            click=click,
            state=state,
            key=key,
            words=words,
            now=now,
            report=report,
        )
    if ctx.planner is not None:
        details: dict[str, str | int | None] = {"link": link.link, "play": link.play}
        signal = Signal(SignalKind.LINK_CLICKED, state.ref, details, at=click.at)
        report.sends_planned += ctx.planner.plan(conn, state, [signal], now)
    log.info("click.counted", link=link.link, play=link.play, phone=mask_phone(state.phone or ""))


def _task(
    ctx: EngineContext,
    policy: ReplyPolicy,
    conn: Connection,
    *,
    click: PendingClick,
    state: ContactState,
    key: str,
    words: str,
    now: datetime,
    report: IngestReport,
) -> None:
    """The owner's follow-up, routed and timed like a reply's (`ingest_inbound`)."""
    link = click.link
    phone = state.phone or ""
    # the click as the "message" the task answers: its own sid keys the task and timer
    message = Message(key, Direction.INBOUND, phone, "", words, MessageStatus.RECEIVED, click.at)
    team = policy.team(state.owner_team)
    rotation = load_rotation(conn, policy.teams)
    assignment = route(
        state.owner_id,
        team,
        rotation,
        owner_active=state.owner_id is not None and state.owner_id not in policy.inactive,
        fallback_owner_id=None,
    )
    save_rotation(conn, rotation, assignment.rotation, now)
    kind, within = sla_for(ctx.mapping, None, CLICKED)
    timer = start_timer(kind, click.at, within, policy.calendar(state.owner_team))
    entry = sla.start(conn, state.ref, kind, started=timer.started, due=timer.due, source_sid=key)
    facts = reply_facts(
        ctx,
        conn,
        message=message,
        state=state,
        owner_id=assignment.owner_id or policy.fallback_owner_id,
        rule=f"clicked {link.link} ({link.destination})",
        within=within,
    )
    write = tasks.follow_up(
        ctx.mapping,
        message,
        state.ref,
        CLICKED,
        facts,
        owner_id=assignment.owner_id,
        due=entry.timer.due,
        sla_kind=kind.value,
        play=link.play,
        track=_talk_track(ctx, link),
    )
    queue(conn, write, now, report)
    report.tasks += 1
    record_changed(ctx, conn, state, {"sla"})


def _talk_track(ctx: EngineContext, link: TrackedLink) -> str | None:
    """The link's own talk track from the plays file, else the mapping's for clicks."""
    play = ctx.planner.policy.plays.get(link.play) if ctx.planner and link.play else None
    spec = play.links.get(link.link) if play is not None else None
    return spec.talk_track if spec is not None and spec.talk_track else None
