"""tracked_links and link_clicks: the short URL of each link in each text, and its clicks.

A token is looked up by its unique index, nothing else: the row says where the link goes
(copied from the plays file when the text was sent), whose text it was and until when it
answers. A click is inserted at most once per link and flag (the unique key decides, on
every replica), so a second click, a replay or a refresh adds nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from connector.domain.model import CrmRef
from connector.store.dialect import insert_if_absent
from connector.store.tables import link_clicks as c
from connector.store.tables import messages as m
from connector.store.tables import sms_outbox as o
from connector.store.tables import tracked_links as t

COUNTED = "counted"
UA_MAX = 200


@dataclass(frozen=True, slots=True)
class TrackedLink:
    id: int
    token: str
    outbox_id: int
    link: str
    play: str | None
    contact: CrmRef | None
    destination: str
    high_intent: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingClick:
    """A counted click whose CRM writes are not queued yet."""

    id: int
    at: datetime
    link: TrackedLink


def _ref(row: Any, prefix: str = "contact") -> CrmRef | None:
    kind, ident = getattr(row, f"{prefix}_type"), getattr(row, f"{prefix}_id")
    return CrmRef(kind, ident) if kind and ident else None


def _link(row: Any) -> TrackedLink:
    return TrackedLink(
        id=row.id,
        token=row.token,
        outbox_id=row.outbox_id,
        link=row.link,
        play=row.play,
        contact=_ref(row),
        destination=row.destination,
        high_intent=bool(row.high_intent),
        expires_at=row.expires_at,
    )


def for_outbox(conn: sa.Connection, outbox_id: int) -> dict[str, str]:
    """The tokens already made for a queued text, by link name (a retried send reuses
    them, so every attempt carries the same URLs)."""
    rows = conn.execute(sa.select(t.c.link, t.c.token).where(t.c.outbox_id == outbox_id))
    return {r.link: r.token for r in rows}


def create(
    conn: sa.Connection,
    *,
    token: str,
    outbox_id: int,
    link: str,
    play: str | None,
    contact: CrmRef | None,
    destination: str,
    high_intent: bool,
    now: datetime,
    expires_at: datetime,
) -> str:
    """The link's token for this text: `token` when new, else the one already stored."""
    values = {
        "token": token,
        "outbox_id": outbox_id,
        "link": link,
        "play": play,
        "contact_type": contact.object_type if contact else None,
        "contact_id": contact.id if contact else None,
        "destination": destination,
        "high_intent": high_intent,
        "created_at": now,
        "expires_at": expires_at,
    }
    if insert_if_absent(conn, t, values, ["outbox_id", "link"]):
        return token
    return for_outbox(conn, outbox_id)[link]


def by_token(conn: sa.Connection, token: str) -> TrackedLink | None:
    row = conn.execute(_BY_TOKEN, {"token": token}).first()
    return _link(row) if row is not None else None


# The click's two statements, built once: on the redirect's path, building a statement
# costs more than running it (scripts/bench_clicks.py).
_BY_TOKEN = (
    sa.select(t, o.c.done_at, m.c.status.label("message_status"), m.c.updated_at)
    .select_from(t.outerjoin(o, o.c.id == t.c.outbox_id).outerjoin(m, m.c.sid == o.c.provider_sid))
    .where(t.c.token == sa.bindparam("token"))
)
_BY_SID = (
    sa.select(t, o.c.done_at, m.c.status.label("message_status"), m.c.updated_at)
    .select_from(t.join(o, o.c.id == t.c.outbox_id).outerjoin(m, m.c.sid == o.c.provider_sid))
    .where(o.c.provider_sid == sa.bindparam("sid"))
    .order_by(t.c.id)
)
_INSERT_CLICK = {
    "postgresql": postgresql.insert(c)
    .on_conflict_do_nothing(index_elements=["link_id", "flag"])
    .returning(c.c.id),
    "sqlite": sqlite.insert(c)
    .on_conflict_do_nothing(index_elements=["link_id", "flag"])
    .returning(c.c.id),
}


def for_click(conn: sa.Connection, token: str) -> tuple[TrackedLink, datetime | None] | None:
    """The link of `token` and when its text reached the phone (the message's delivered
    time, else when it was handed to the provider), in one read."""
    row = conn.execute(_BY_TOKEN, {"token": token}).first()
    if row is None:
        return None
    delivered = row.updated_at if row.message_status == "delivered" else row.done_at
    return _link(row), delivered


def for_provider_click(
    conn: sa.Connection, sid: str, url: str
) -> tuple[TrackedLink, datetime | None] | None:
    """The link a provider's click callback names (Twilio Link Shortening: the message sid
    and the long link it shortened), and when its text reached the phone; None when no
    text of ours with that sid carried that link (a trailing slash aside)."""
    rows = conn.execute(_BY_SID, {"sid": sid}).all()
    chosen = next((r for r in rows if r.destination.rstrip("/") == url.rstrip("/")), None)
    if chosen is None:
        return None
    delivered = chosen.updated_at if chosen.message_status == "delivered" else chosen.done_at
    return _link(chosen), delivered


def delivered_at(conn: sa.Connection, outbox_id: int) -> datetime | None:
    """When the text reached the phone: the message's delivered status time, else when it
    was handed to the provider."""
    row = conn.execute(
        sa.select(o.c.done_at, m.c.status, m.c.updated_at)
        .select_from(o.outerjoin(m, m.c.sid == o.c.provider_sid))
        .where(o.c.id == outbox_id)
    ).first()
    if row is None:
        return None
    if row.status == "delivered" and row.updated_at is not None:
        return row.updated_at  # type: ignore[no-any-return]
    return row.done_at  # type: ignore[no-any-return]


def record_click(
    conn: sa.Connection, link: TrackedLink, flag: str, user_agent: str | None, now: datetime
) -> bool:
    """True when this is the link's first click of this flag (a counted one then goes to
    the CRM); a later one changes nothing."""
    values = {
        "link_id": link.id,
        "flag": flag,
        "at": now,
        "user_agent": (user_agent or "")[:UA_MAX] or None,
        "contact_type": link.contact.object_type if link.contact else None,
        "contact_id": link.contact.id if link.contact else None,
    }
    statement = _INSERT_CLICK["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    return conn.execute(statement, values).first() is not None


def pending(conn: sa.Connection, limit: int) -> list[PendingClick]:
    rows = conn.execute(
        sa.select(c.c.id.label("click_id"), c.c.at.label("click_at"), t)
        .join(t, t.c.id == c.c.link_id)
        .where(c.c.processed_at.is_(None), c.c.flag == COUNTED)
        .order_by(c.c.id)
        .limit(limit)
    )
    return [PendingClick(r.click_id, r.click_at, _link(r)) for r in rows]


def mark_processed(conn: sa.Connection, click_id: int, now: datetime) -> bool:
    """True for the one worker that takes the click (a replica that raced it gets False)."""
    done = conn.execute(
        sa.update(c)
        .where(c.c.id == click_id, c.c.processed_at.is_(None))
        .values(processed_at=now)
        .returning(c.c.id)
    ).first()
    return done is not None


def last_counted_at(conn: sa.Connection, contact: CrmRef) -> datetime | None:
    """The contact's latest counted click: a suppression input (an active conversation)."""
    found: datetime | None = conn.execute(
        sa.select(sa.func.max(c.c.at)).where(
            c.c.contact_type == contact.object_type,
            c.c.contact_id == contact.id,
            c.c.flag == COUNTED,
        )
    ).scalar()
    return found


def last_counted_of(conn: sa.Connection, refs: Sequence[CrmRef]) -> dict[CrmRef, datetime]:
    """`last_counted_at` of many contacts, one query per object type; a contact with no
    counted click is absent."""
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref.id)
    found: dict[CrmRef, datetime] = {}
    for object_type, ids in by_type.items():
        rows = conn.execute(_LAST_COUNTED_OF, {"object_type": object_type, "ids": ids})
        found.update({CrmRef(object_type, crm_id): at for crm_id, at in rows})
    return found


_LAST_COUNTED_OF = (
    sa.select(c.c.contact_id, sa.func.max(c.c.at))
    .where(
        c.c.contact_type == sa.bindparam("object_type"),
        c.c.contact_id.in_(sa.bindparam("ids", expanding=True)),
        c.c.flag == COUNTED,
    )
    .group_by(c.c.contact_id)
)


def counts(conn: sa.Connection) -> dict[str, int]:
    """Clicks by flag (counted, previewer, too_fast)."""
    rows = conn.execute(sa.select(c.c.flag, sa.func.count()).group_by(c.c.flag))
    return {str(flag): int(n) for flag, n in rows}


def outbox_body(conn: sa.Connection, outbox_id: int) -> tuple[str | None, str | None]:
    """The message that carried a link: its provider sid and the text as sent."""
    row = conn.execute(
        sa.select(o.c.provider_sid, m.c.body)
        .select_from(o.outerjoin(m, m.c.sid == o.c.provider_sid))
        .where(o.c.id == outbox_id)
    ).first()
    if row is None:
        return None, None
    return row.provider_sid, row.body
