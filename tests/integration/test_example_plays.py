"""The shipped example files work as shipped, on both CRMs: `mappings/plays.yaml` over
`mappings/<crm>.yaml` against the sandbox. Names come from the mapped segments, owner
names from the CRM's users or owners, meeting times are written in the recipient's zone,
and the clock's triggers (a reminder before a meeting, a renewal, 14 quiet days) fire once
each, from what the pull stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.domain.holdout import assign
from connector.domain.instants import calendar_date, parse_instant
from connector.domain.links import LINK_PATTERN
from connector.domain.model import ConsentStatus, ContactState, CrmRef
from connector.engine import contact_context, send, timed
from connector.engine.explain import explain
from connector.engine.plan import PlaysPlanner
from connector.engine.writeback import Writeback
from connector.sandbox.server import Sandbox
from connector.store import contacts, cursors
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"
NY = "America/New_York"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York (EST)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    seeded = MORNING - timedelta(hours=1)
    with make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=seeded, start=MORNING) as w:
        yield w


def _plays(world: World) -> PlaysPlanner:
    planner = world.ctx.planner
    assert isinstance(planner, PlaysPlanner)
    return planner


def _fresh(world: World, state: ContactState) -> ContactState:
    with world.ctx.store.begin() as conn:
        found = contacts.get(conn, state.ref)
    assert found is not None
    return found


def pick(world: World, *plays: str, ok: object = None) -> ContactState:
    """An opted-in, textable person in none of these plays' holdouts (and, when `ok` is a
    callable, one it accepts), with New York time set in the CRM."""
    policy = _plays(world).policy
    while True:
        state = world.person()
        held = any(
            assign(str(state.ref), name, policy.plays[name].holdout_percent).held_out
            for name in plays
        )
        accepted = ok(state) if callable(ok) else True
        if state.consent is ConsentStatus.OPTED_IN and not held and accepted:
            world.edit(state, "time_zone", NY)
            return state


def edit_segment(world: World, state: ContactState, segment: str, value: str) -> None:
    crm_field = world.ctx.mapping.field_map(state.ref.object_type).segments[segment]
    world.case.change_field(state.ref.object_type, state.ref.id, crm_field, value)


def _decisions(world: World, state: ContactState) -> list[object]:
    with world.ctx.store.begin() as conn:
        return list(explain(conn, state.ref.id).entries)


def owner_of(world: World, state: ContactState) -> tuple[str, str]:
    owner = world.case.seeded_owners()[state.owner_id]
    return owner.first_name, f"{owner.first_name} {owner.last_name}"


def test_every_seeded_person_has_the_names_the_example_templates_need(world: World) -> None:
    planner = _plays(world)
    owners = world.case.seeded_owners()
    checked = 0
    refs = _refs(world)
    with world.ctx.store.begin() as conn:
        for ref in refs:
            state = contacts.get(conn, ref)
            assert state is not None
            assert state.owner_id in owners
            owner = owners[state.owner_id]
            assert state.segments["owner_name"] == f"{owner.first_name} {owner.last_name}"
            ctx = contact_context.load(conn, state, default_zone=NY)
            for name in ("speed_to_lead", "stalled_stage_nudge", "reactivation"):
                text, missing = planner.plays[name].template.render(ctx.values)
                assert text is not None, (name, missing)
                assert "$" not in LINK_PATTERN.sub("", text)  # links are made at send time
                assert "Hi ," not in text
            checked += 1
    assert checked == 40


def _refs(world: World) -> list[CrmRef]:
    t = tb.contact_state
    with world.ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.c.crm_object_type, t.c.crm_id).order_by(t.c.id)).all()
    return [CrmRef(row.crm_object_type, row.crm_id) for row in rows]


def test_speed_to_lead_greets_by_name_and_names_the_owner(world: World) -> None:
    person = pick(world, "speed_to_lead", ok=lambda s: s.lifecycle_stage in ("subscriber", "lead"))
    world.at(MORNING + timedelta(hours=2))  # noon in New York: open under every state rule
    world.edit(person, "lifecycle_stage", "mql")
    world.pull()
    world.at(MORNING + timedelta(hours=2, minutes=3))
    assert send.run(world.ctx).sent == 1
    assert person.phone is not None
    [text] = world.texts_to(person.phone)
    _, owner = owner_of(world, person)
    first = _fresh(world, person).segments["first_name"]
    said = (
        f"Hi {first}, thanks for your interest! I'm {owner}; is now a good time for a quick call?"
    )
    # the tracked pricing link is the text's own short URL; the opt-out is in the template
    assert re.fullmatch(
        re.escape(said) + r" Pricing: http://\S+/l/[A-Za-z0-9_-]{22} Reply STOP to opt out\.",
        text["body"],
    ), text["body"]


def test_a_booked_meeting_is_confirmed_then_reminded_and_a_moved_one_follows(
    world: World,
) -> None:
    person = pick(world, "meeting_confirmation", "no_show_prevention")
    assert person.phone is not None
    meeting = MORNING + timedelta(hours=5)  # 15:00 in New York
    edit_segment(world, person, "meeting_time", meeting.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    world.edit(person, "journey_state", "meeting_booked")
    world.pull()

    rows = {r.play: r for r in world.rows(person.ref.id)}
    assert set(rows) == {"meeting_confirmation", "no_show_prevention"}
    assert rows["no_show_prevention"].send_at == meeting - timedelta(hours=2)
    assert send.run(world.ctx).sent == 1
    [confirmation] = world.texts_to(person.phone)
    first = _fresh(world, person).segments["first_name"]
    _, owner = owner_of(world, person)
    assert confirmation["body"] == (
        f"Hi {first}, you're booked with {owner} on Tuesday, March 3 at 3:00 PM EST."
        " Reply YES to confirm. Reply STOP to opt out."  # the first text carries it
    )
    # the text is logged in the CRM, which moves the record's last-activity field; that is
    # smsync's own doing, not the rep engaging, so the reminder must still go
    Writeback(world.ctx.store, world.ctx.crm, world.ctx.clock, world.vendor, "t").drain()
    world.pull()
    logged = _fresh(world, person).segments["last_activity"]
    if world.vendor == "salesforce":  # LastActivityDate: a date
        assert logged == meeting.date().isoformat()
    else:  # notes_last_updated: the time the communication was logged
        at = parse_instant(logged)
        assert at is not None
        assert MORNING <= at <= MORNING + timedelta(minutes=5)

    # the rep moves the meeting an hour later: the queued reminder no longer applies
    later = meeting + timedelta(hours=1)
    edit_segment(world, person, "meeting_time", later.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    world.pull()
    world.at(meeting - timedelta(hours=2, minutes=-1))
    report = send.run(world.ctx)
    assert (report.sent, report.blocked) == (0, 1)
    assert timed.run(world.ctx).sends_planned == 0  # 16:00's reminder is not due yet

    world.at(later - timedelta(hours=2, minutes=-1))
    assert timed.run(world.ctx).sends_planned == 1
    decided = len(_decisions(world, person))
    assert timed.run(world.ctx).scanned == 0  # within MIN_GAP of the last scan
    with world.ctx.store.begin() as conn:  # an operator's reset: the window comes round again
        cursors.delete(conn, timed.cursor_name(world.ctx))
    again = timed.run(world.ctx)
    assert again.signals >= 1  # the reminder's date is seen again...
    assert again.sends_planned == 0  # ...but every trigger in the window was decided once
    assert len(_decisions(world, person)) == decided
    assert send.run(world.ctx).sent == 1
    reminder = world.texts_to(person.phone)[-1]
    assert reminder["body"] == (
        f"Reminder: your call with {owner} is at 4:00 PM EST today. Need to move it? Just reply."
    )
    with world.ctx.store.begin() as conn:
        reasons = [r for e in explain(conn, person.ref.id).entries for r in e.decision.reasons]
    assert "trigger_changed" in reasons


def test_a_renewal_reminder_goes_30_days_ahead_in_business_hours(world: World) -> None:
    person = pick(world, "renewal_reminder")
    renews = (MORNING + timedelta(days=31)).date()
    edit_segment(world, person, "renewal_date", renews.isoformat())
    world.pull()
    assert timed.run(world.ctx).sends_planned == 0  # 31 days out: not yet

    mark = datetime(renews.year, renews.month, renews.day, tzinfo=UTC) - timedelta(days=30)
    world.at(mark + timedelta(hours=1))  # 20:00 in New York: after business hours
    assert timed.run(world.ctx).sends_planned == 1
    [row] = [r for r in world.rows(person.ref.id) if r.play == "renewal_reminder"]
    assert row.send_at == datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # Wednesday 09:00 NY
    owner_first, _ = owner_of(world, person)
    first = _fresh(world, person).segments["first_name"]
    assert row.body == (
        f"Hi {first}, your plan renews on {calendar_date(renews.isoformat())}."
        f" {owner_first} can walk you through options, just reply."
        " Reply STOP to opt out."  # the first text to the number carries it
    )


def test_fourteen_quiet_days_nudge_once_from_the_clock(world: World) -> None:
    def quiet_later(state: ContactState) -> bool:
        last = parse_instant(state.segments.get("last_activity"))
        return (
            last is not None
            and last + timedelta(days=14) > MORNING + timedelta(hours=2)
            and state.lifecycle_stage not in ("customer", "disqualified")
        )

    person = pick(world, "stalled_stage_nudge", ok=quiet_later)
    last = parse_instant(person.segments["last_activity"])
    assert last is not None
    mark = last + timedelta(days=14)
    world.at(mark - timedelta(hours=1))
    assert not [r for r in world.rows(person.ref.id) if r.play == "stalled_stage_nudge"]
    timed.run(world.ctx)
    assert not [r for r in world.rows(person.ref.id) if r.play == "stalled_stage_nudge"]

    world.at(mark + timedelta(hours=1))
    timed.run(world.ctx)
    world.at(mark + timedelta(hours=2))
    timed.run(world.ctx)
    [row] = [r for r in world.rows(person.ref.id) if r.play == "stalled_stage_nudge"]
    first = person.segments["first_name"]
    company = person.segments.get("company") or "your team"
    assert row.body == (
        f"Hi {first}, checking in: still looking at options for {company}? Happy to help."
        " Reply STOP to opt out."  # the first text to the number carries it
    )
