"""The clock's index (issue #21 part 3): the scan reads only contacts whose instant fell due
and decides exactly what the full scan of every contact decided; a pull replaces a
contact's instants, so a moved meeting is reminded at its new time only; a change of the
plays' timed triggers rebuilds the index. On SQLite and Postgres (the `store` fixture)
and, for the pull, over the sandbox."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.domain.signals import Signal
from connector.engine import timed
from connector.engine.context import EngineContext
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, contacts
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world
from tests.integration.test_timed_store import NOW, _Clock, _context, _person

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"


def _seed_random(store: SqlStore, n: int, rng: random.Random) -> None:
    """People with meetings, renewals and last activity spread over a few weeks."""
    with store.begin() as conn:
        for i in range(n):
            person = _person(i, NOW + timedelta(minutes=rng.randrange(-600, 6000)))
            segments = dict(person.segments)
            segments["last_activity"] = (
                NOW - timedelta(hours=rng.randrange(0, 24 * 40))
            ).isoformat()
            if rng.random() < 0.3:
                segments["renewal_date"] = (
                    (NOW + timedelta(days=rng.randrange(25, 35))).date().isoformat()
                )
            if rng.random() < 0.1:
                segments.pop("meeting_time")
            phone = None if rng.random() < 0.05 else person.phone
            contacts.upsert(conn, replace(person, segments=segments, phone=phone), NOW)


def _full_scan(ctx: EngineContext, since: datetime, now: datetime) -> list[Signal]:
    """The scan before the index: every live contact's segments, page by page."""
    watch = timed.watch_of(ctx)
    assert watch is not None
    found: list[Signal] = []
    after = 0
    with ctx.store.begin() as conn:
        while page := contacts.segment_page(conn, after, 500):
            for row_id, ref, segments in page:
                after = row_id
                found += timed.due(ref, segments, watch, since, now)
    return found


def _indexed(ctx: EngineContext, since: datetime, now: datetime) -> list[Signal]:
    watch = timed.watch_of(ctx)
    assert watch is not None
    found: list[Signal] = []
    after = 0
    while True:
        with ctx.store.begin() as conn:
            page, read, after = timed.due_now(conn, watch, since, now, after)
        found += [s for _, signals in page for s in signals]
        if read < timed.PAGE:
            return found


def test_the_index_finds_exactly_what_the_full_scan_found(store: SqlStore) -> None:
    rng = random.Random(21)
    _seed_random(store, 1500, rng)
    ctx = _context(store, _Clock(NOW))
    watch = timed.watch_of(ctx)
    assert watch is not None
    assert timed.ensure_index(ctx, watch, NOW) == _live(store)
    total = 0
    for hours in (1, 3, 24, 24 * 7, 24 * 30):
        since, now = NOW + timedelta(hours=hours - 2), NOW + timedelta(hours=hours)
        expected = _full_scan(ctx, since, now)
        assert _indexed(ctx, since, now) == expected
        total += len(expected)
    assert total > 50  # the windows hold reminders, renewals and quiet spells


def _live(store: SqlStore) -> int:
    t = tb.contact_state
    with store.begin() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(t.c.deleted.is_(False), t.c.phone.is_not(None))
            ).scalar_one()
        )


def test_a_change_of_the_timed_triggers_rebuilds_the_index_once(store: SqlStore) -> None:
    with store.begin() as conn:
        for i in range(30):
            contacts.upsert(conn, _person(i, NOW + timedelta(hours=5)), NOW)
    ctx = _context(store, _Clock(NOW))
    watch = timed.watch_of(ctx)
    assert watch is not None
    assert timed.ensure_index(ctx, watch, NOW) == 30
    assert timed.ensure_index(ctx, watch, NOW) == 0  # same triggers: nothing to do
    fewer = timed._Watch(watch.inactive_days, ())  # a plays file without date triggers
    assert fewer.fingerprint() != watch.fingerprint()
    assert timed.ensure_index(ctx, fewer, NOW) == 30
    with store.begin() as conn:
        keys = set(conn.execute(sa.select(tb.timed_instants.c.trigger)).scalars())
    assert keys == {f"inactive:{d}" for d in watch.inactive_days}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def world(sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    with make_world(
        "salesforce", sandbox, tmp_path, PLAYS, seeded_at=NOW - timedelta(hours=1), start=NOW
    ) as w:
        yield w


def test_a_moved_meeting_is_reminded_at_its_new_time_only(world: World) -> None:
    person = world.person_only_in_new_york()
    assert _index_rows(world.ctx)  # the first pull built the index before the meeting is set
    assert timed.run(world.ctx).rebuilt == 0  # the clock's first scan, from now on
    meeting, later = NOW + timedelta(hours=5), NOW + timedelta(hours=6)
    crm_field = world.ctx.mapping.field_map(person.ref.object_type).segments["meeting_time"]

    def book(at: datetime) -> None:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        world.case.change_field(person.ref.object_type, person.ref.id, crm_field, stamp)
        world.pull()  # the pull replaces the person's instants

    book(meeting)
    book(later)
    with world.ctx.store.begin() as conn:
        [contact_id] = conn.execute(
            sa.select(tb.contact_state.c.id).where(tb.contact_state.c.crm_id == person.ref.id)
        ).scalars()
        due = dict(
            conn.execute(
                sa.select(tb.timed_instants.c.trigger, tb.timed_instants.c.due_at).where(
                    tb.timed_instants.c.contact_id == contact_id
                )
            ).all()
        )
    assert due["date:meeting_time:7200"] == later - timedelta(hours=2)  # the new time only

    world.at(meeting - timedelta(hours=2, minutes=-1))
    at_old = timed.run(world.ctx)
    assert (at_old.due, at_old.signals) == (0, 0)
    world.at(later - timedelta(hours=2, minutes=-1))
    at_new = timed.run(world.ctx)
    assert (at_new.due, at_new.signals) == (1, 1)
    rows = [r for r in world.rows(person.ref.id) if r.play == "no_show_prevention"]
    assert len(rows) == 1  # one reminder, queued at the new time's scan
    assert later - timedelta(hours=2) <= rows[0].send_at <= later


def _index_rows(ctx: EngineContext) -> set[tuple[int, str, datetime]]:
    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(tb.timed_instants)).all()
    return {(row.contact_id, row.trigger, row.due_at) for row in rows}


def test_the_first_pull_builds_the_index_a_rebuild_would(world: World) -> None:
    """A first pull indexes every contact it stores, so the first scan rebuilds nothing
    (at 1,000,000 contacts a rebuild reads them all again), and its index is the one a
    rebuild from the stored contacts gives."""
    built = _index_rows(world.ctx)
    assert len(built) >= 10  # the world's people with meetings, renewals, last activity
    assert timed.run(world.ctx).rebuilt == 0
    with world.ctx.store.begin() as conn:  # forget the index: the next scan rebuilds it
        conn.execute(sa.delete(tb.cursors).where(tb.cursors.c.name == timed.index_name(world.ctx)))
    watch = timed.watch_of(world.ctx)
    assert watch is not None
    assert timed.ensure_index(world.ctx, watch, NOW) > 0
    assert _index_rows(world.ctx) == built
