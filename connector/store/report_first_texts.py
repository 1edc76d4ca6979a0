"""The first text of each contact in the period, the anchor of most report figures: two
temporary tables filled once per report (per play and per contact), the texts followed by
an opt-out, and the conditions hung off that anchor (reached, opted out, a meeting or a
record change after it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import FromClause

from connector.store import tables as tb
from connector.store.coltypes import UtcDateTime
from connector.store.report_pipeline import (
    PIPELINE_MEETINGS,
    fill_pipeline_meetings,
    meeting_in_pipeline,
)
from connector.store.report_scope import (
    DELIVERED,
    NONE_KEY,
    OPT_OUT_WINDOW_S,
    OPTED_OUT,
    GroupBy,
    Scope,
)
from connector.store.report_scratch import scratch
from connector.store.report_sql import keyed, seconds_between

# First outbound per (play, contact) and per contact in the period: most figures hang off
# it, so `build_report` computes it once into two temporary tables (per connection, inside
# the report's transaction) instead of re-aggregating the messages in every query.
FIRST_OUT_PLAY = sa.Table(
    "report_first_out_play",
    scratch,
    sa.Column("key", sa.String(191), nullable=False),
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("reached", sa.Integer, nullable=False),  # 1: a text of it was delivered
    sa.Index("ix_report_first_out_play_contact", "contact_type", "contact_id"),
    prefixes=["TEMPORARY"],
)
FIRST_OUT_CONTACT = sa.Table(
    "report_first_out_contact",
    scratch,
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("reached", sa.Integer, nullable=False),
    sa.Index("ix_report_first_out_contact_contact", "contact_type", "contact_id", unique=True),
    prefixes=["TEMPORARY"],
)


# Texts followed by an opt-out of their number within the window: few (opt-outs are rare),
# found once from the ledger through the messages' number index, then probed per contact.
OPTED_TEXTS = sa.Table(
    "report_opted_texts",
    scratch,
    sa.Column("key", sa.String(191), nullable=False),
    sa.Column("contact_type", sa.String(64), nullable=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Index("ix_report_opted_texts_contact", "contact_type", "contact_id", "key"),
    prefixes=["TEMPORARY"],
)


def _fill_opted(conn: sa.Connection, scope: Scope) -> None:
    m, cl = tb.messages, tb.consent_ledger
    play = sa.func.coalesce(m.c.play, NONE_KEY)
    conn.execute(
        sa.insert(OPTED_TEXTS).from_select(
            ["key", "contact_type", "contact_id"],
            sa.select(play, m.c.contact_type, m.c.contact_id)
            .select_from(cl.join(m, m.c.to_number == cl.c.phone))
            .where(
                cl.c.status == OPTED_OUT,
                *scope.before_end(cl.c.at),
                m.c.direction == "outbound",
                m.c.contact_id.is_not(None),
                *scope.clip(m.c.created_at),
                m.c.created_at <= cl.c.at,
                seconds_between(conn.dialect.name, m.c.created_at, cl.c.at) <= OPT_OUT_WINDOW_S,
            )
            .distinct(),
        )
    )


@contextmanager
def first_outbound(conn: sa.Connection, scope: Scope) -> Iterator[None]:
    """Fill the first-outbound tables, the opted-out texts and the pipeline meetings for the
    period; drop them when the block ends.

    On an error the caller's transaction rolls back, which drops them too (DDL is
    transactional on SQLite and Postgres), so only the happy path drops them here."""
    scratch.drop_all(conn, checkfirst=True)  # a pooled connection's leftovers, if any
    scratch.create_all(conn)
    m, fp, fc = tb.messages, FIRST_OUT_PLAY, FIRST_OUT_CONTACT
    play = sa.func.coalesce(m.c.play, NONE_KEY)
    conn.execute(
        sa.insert(fp).from_select(
            ["key", "contact_type", "contact_id", "first_at", "phone", "reached"],
            sa.select(
                play,
                m.c.contact_type,
                m.c.contact_id,
                sa.func.min(m.c.created_at),
                sa.func.min(m.c.to_number),
                # in the same pass (the index covers status): no probe per contact later
                sa.func.max(sa.case((m.c.status.in_(DELIVERED), 1), else_=0)),
            )
            .where(
                m.c.direction == "outbound",
                m.c.contact_id.is_not(None),
                *scope.clip(m.c.created_at),
            )
            .group_by(play, m.c.contact_type, m.c.contact_id),
        )
    )
    # per contact = the earliest over its plays (and the least number, as per play;
    # reached by any of them)
    conn.execute(
        sa.insert(fc).from_select(
            ["contact_type", "contact_id", "first_at", "phone", "reached"],
            sa.select(
                fp.c.contact_type,
                fp.c.contact_id,
                sa.func.min(fp.c.first_at),
                sa.func.min(fp.c.phone),
                sa.func.max(fp.c.reached),
            ).group_by(fp.c.contact_type, fp.c.contact_id),
        )
    )
    _fill_opted(conn, scope)
    fill_pipeline_meetings(conn, scope)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {OPTED_TEXTS.name}")
        conn.exec_driver_sql(f"ANALYZE {PIPELINE_MEETINGS.name}")
        conn.exec_driver_sql(f"ANALYZE {fp.name}")
        conn.exec_driver_sql(f"ANALYZE {fc.name}")
    yield
    scratch.drop_all(conn)


def first_outbound_by_group(scope: Scope) -> FromClause:
    """One row per (group, messaged contact): the first outbound in the period.

    Reads the tables `first_outbound` filled; a contact's group (other than its play) is
    a property of the contact, so the per-contact table keyed by it is the same thing."""
    if scope.by is GroupBy.PLAY:
        return FIRST_OUT_PLAY
    fc = FIRST_OUT_CONTACT
    key, src = keyed(scope, fc, fc.c.contact_type, fc.c.contact_id)
    return (
        sa.select(
            key.label("key"),
            fc.c.contact_type,
            fc.c.contact_id,
            fc.c.first_at,
            fc.c.phone,
            fc.c.reached,
        )
        .select_from(src)
        .subquery("first_out")
    )


def reached(fo: FromClause) -> Any:
    """The contact has a text of the group in the period delivered (status delivered or
    read): the `reached` flag `first_outbound` computed in its one pass over the texts."""
    return fo.c.reached == 1


def opted_within(scope: Scope, fo: FromClause, dialect: str) -> Any:  # noqa: ARG001
    """The texted number opted out within OPT_OUT_WINDOW_S after one of the group's texts
    (before the period ends): the contact has a row in OPTED_TEXTS (filled by
    `first_outbound`), of the row's play when grouped by play. A number that opted out
    before any text, such as a CRM opt-out read at the first sync, has none."""
    o = OPTED_TEXTS.alias("opt")
    conds = [o.c.contact_type == fo.c.contact_type, o.c.contact_id == fo.c.contact_id]
    if scope.by is GroupBy.PLAY:
        conds.append(o.c.key == fo.c.key)
    return sa.exists().where(*conds).correlate(fo)


def set_after(scope: Scope, fo: FromClause, cs: Any, dispositions: Sequence[str]) -> Any:
    """The contact's record changed at or after `fo.first_at`: its CRM modstamp, or
    smsync's write of one of `dispositions` to it (before the period ends)."""
    co = tb.crm_outbox
    written = (
        sa.exists()
        .where(
            co.c.target_type == fo.c.contact_type,
            co.c.target_id == fo.c.contact_id,
            co.c.kind == "field_update",
            co.c.fields["disposition"].as_string().in_(list(dispositions)),
            co.c.created_at >= fo.c.first_at,
            *scope.before_end(co.c.created_at),
        )
        .correlate(fo)
    )
    return sa.or_(cs.c.crm_modstamp >= fo.c.first_at, written)


def meeting_after(scope: Scope, fo: FromClause, cs: Any, dialect: str) -> Any:
    """A meeting booked or held after the first text (`fo.first_at`): the contact's
    disposition is a meeting one and was set then (smsync wrote it then, or the CRM record
    changed then: its modstamp), or its pipeline reached a mapped stage at or past meeting
    held then (`meeting_in_pipeline`). The meeting rate, the funnel and the plays' meeting
    lift all count this, so the funnel's meeting step holds every opportunity."""
    booked = sa.and_(
        cs.c.disposition.in_(list(scope.meeting)), set_after(scope, fo, cs, scope.meeting)
    )
    return sa.or_(booked, meeting_in_pipeline(scope, fo, dialect))
