"""The report's per-variant SQL: who was assigned to each arm of a play's experiment
(decision_log.variant, migration 0013, on a decision that allowed or deferred the text;
the holdout arm by its `holdout` reason, which only a contact that passed every other
check gets), and what each of them did after their first decision in the arm.

One row per (play, arm, contact), so the caller aggregates and applies the opportunity
window; the definitions, all counted from the contact's first decision in the arm:

    sent         an outbound text of the play to the contact was accepted by the provider
    replied      an inbound text from the contact
    clicked      a counted click of the contact on a tracked link of the play (previewers
                 and clicks within a second of delivery never count)
    meeting      the contact's disposition is a meeting one, set after (smsync wrote it,
                 or the CRM record changed, then); or, as the report's meeting rate counts
                 it, a linked opportunity created at or past a mapped meeting stage, or
                 entering one, after (its time is returned; the caller applies the window,
                 and counts an opportunity as a meeting too)
    opportunity  the first opportunity linked to the contact created after (its time is
                 returned; the caller applies the window)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store import tables as tb
from connector.store.report_clicks import COUNTED
from connector.store.report_pipeline import _reached, is_opportunity, meeting_stages
from connector.store.report_scope import PipelineDefs

HOLDOUT_ARM = "holdout"


@dataclass(frozen=True, slots=True)
class ArmMember:
    play: str
    arm: str  # the variant's name, or HOLDOUT_ARM
    first_at: datetime
    sent: bool
    replied: bool
    clicked: bool
    meeting: bool
    opportunity_at: datetime | None
    pipeline_meeting_at: datetime | None = None


def _exists(stmt: sa.Exists) -> sa.Case[int]:
    return sa.case((stmt, 1), else_=0)


def arm_members(
    conn: sa.Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    meeting: Sequence[str],
    pipeline: PipelineDefs | None = None,
) -> list[ArmMember]:
    """Every contact assigned to an arm of a play that has variants, in the period."""
    d = tb.decision_log
    with_variants = sa.select(d.c.play).where(d.c.variant.is_not(None)).distinct()
    # like the holdout (checked last), an arm holds the contacts that passed every other
    # check: a decision blocked by consent, quiet hours or a cap assigns no one
    arm = sa.case(
        (sa.and_(d.c.variant.is_not(None), d.c.verdict != "block"), d.c.variant),
        (sa.cast(d.c.reasons, sa.Text).like(f'%"{HOLDOUT_ARM}"%'), HOLDOUT_ARM),
    )
    period = [d.c.at >= since] if since is not None else []
    period += [d.c.at < until] if until is not None else []
    members = (
        sa.select(
            d.c.play.label("play"),
            d.c.contact_type,
            d.c.contact_id,
            arm.label("arm"),
            sa.func.min(d.c.at).label("first_at"),
        )
        .where(d.c.play.in_(with_variants), d.c.contact_id.is_not(None), *period)
        .group_by(d.c.play, d.c.contact_type, d.c.contact_id, arm)
        .subquery("members")
    )
    m = members
    end = [] if until is None else [until]
    msg, cs, co = tb.messages.alias("msg"), tb.contact_state.alias("cs"), tb.crm_outbox
    same = (msg.c.contact_type == m.c.contact_type, msg.c.contact_id == m.c.contact_id)
    sent = sa.exists().where(
        *same,
        msg.c.direction == "outbound",
        msg.c.play == m.c.play,
        msg.c.status.not_in(("failed", "undelivered")),
        msg.c.created_at >= m.c.first_at,
        *(msg.c.created_at < e for e in end),
    )
    inbound = tb.messages.alias("inb")
    replied = sa.exists().where(
        inbound.c.contact_type == m.c.contact_type,
        inbound.c.contact_id == m.c.contact_id,
        inbound.c.direction == "inbound",
        inbound.c.created_at > m.c.first_at,
        *(inbound.c.created_at < e for e in end),
    )
    lc, tl = tb.link_clicks, tb.tracked_links
    clicked = sa.exists().where(
        lc.c.contact_type == m.c.contact_type,
        lc.c.contact_id == m.c.contact_id,
        lc.c.flag == COUNTED,
        lc.c.at >= m.c.first_at,
        *(lc.c.at < e for e in end),
        tl.c.id == lc.c.link_id,
        tl.c.play == m.c.play,
    )
    written = sa.exists().where(
        co.c.target_type == m.c.contact_type,
        co.c.target_id == m.c.contact_id,
        co.c.kind == "field_update",
        co.c.fields["disposition"].as_string().in_(list(meeting)),
        co.c.created_at >= m.c.first_at,
        *(co.c.created_at < e for e in end),
    )
    met = sa.and_(
        cs.c.disposition.in_(list(meeting)),
        sa.or_(cs.c.crm_modstamp >= m.c.first_at, written),
    )
    first_opp = _first_opportunity(m, end, "1")
    p = pipeline or PipelineDefs()
    stages = meeting_stages(p)
    created_meeting = _first_opportunity(
        m, end, "2", lambda o2: sa.or_(_reached(o2, stages), is_opportunity(p, o2))
    )
    oc3, o3, h = (
        tb.opportunity_contacts.alias("oc3"),
        tb.opportunities.alias("o3"),
        tb.opportunity_stages.alias("h3"),
    )
    entered_meeting = (
        sa.select(sa.func.min(h.c.at))
        .select_from(
            oc3.join(o3, o3.c.crm_id == oc3.c.opportunity_id).join(
                h, h.c.opportunity_id == o3.c.crm_id
            )
        )
        .where(
            oc3.c.contact_type == m.c.contact_type,
            oc3.c.contact_id == m.c.contact_id,
            o3.c.deleted == sa.false(),
            h.c.stage.in_(stages),
            h.c.at >= m.c.first_at,
            *(h.c.at < e for e in end),
        )
        .correlate(m)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            m.c.play,
            m.c.arm,
            m.c.first_at,
            _exists(sent),
            _exists(replied),
            _exists(clicked),
            sa.case((met, 1), else_=0),
            first_opp,
            created_meeting,
            entered_meeting,
        )
        .select_from(
            m.outerjoin(
                cs,
                sa.and_(cs.c.crm_object_type == m.c.contact_type, cs.c.crm_id == m.c.contact_id),
            )
        )
        .where(m.c.arm.is_not(None))
    )
    return [
        ArmMember(
            play,
            arm_name,
            first_at,
            bool(s),
            bool(r),
            bool(c),
            bool(mt),
            opp_at,
            min((t for t in (made, went) if t is not None), default=None),
        )
        for play, arm_name, first_at, s, r, c, mt, opp_at, made, went in conn.execute(stmt)
    ]


def _first_opportunity(
    m: Any,
    end: Sequence[Any],
    name: str,
    which: Callable[[Any], sa.ColumnElement[bool]] | None = None,
) -> Any:
    """When the first opportunity of the texted contact (of those `which` keeps) was
    created in the contact's window; `name` tells the aliases apart."""
    oc = tb.opportunity_contacts.alias(f"oc{name}")
    o = tb.opportunities.alias(f"o{name}")
    return (
        sa.select(sa.func.min(o.c.created_at))
        .select_from(oc.join(o, o.c.crm_id == oc.c.opportunity_id))
        .where(
            oc.c.contact_type == m.c.contact_type,
            oc.c.contact_id == m.c.contact_id,
            o.c.deleted == sa.false(),
            o.c.created_at >= m.c.first_at,
            *(o.c.created_at < e for e in end),
            *(() if which is None else (which(o),)),
        )
        .correlate(m)
        .scalar_subquery()
    )
