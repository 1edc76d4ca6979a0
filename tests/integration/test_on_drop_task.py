"""`on_drop: task` on both CRMs: a high-priority play dropped by quiet hours (22:00 in the
lead's zone) creates exactly one task for the owner, "Call instead: quiet hours in the
lead's zone", with the reason; no text goes out, and deciding the same trigger again or
writing back twice adds no second task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.domain.signals import Signal, SignalKind
from connector.engine.drop_tasks import CALL_INSTEAD
from connector.engine.writeback import Writeback
from connector.sandbox.server import Sandbox
from connector.store import contacts
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "on_drop.yaml"
LATE = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # 22:00 in New York


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    start = LATE - timedelta(hours=2)
    with make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=start, start=LATE) as w:
        yield w


def _call_tasks(world: World) -> list[tuple[str, dict[str, str]]]:
    t = tb.crm_outbox
    with world.ctx.store.begin() as conn:
        rows = conn.execute(
            sa.select(t.c.external_id, t.c.fields).where(t.c.external_id.like(f"%:{CALL_INSTEAD}"))
        ).all()
    return [(r.external_id, r.fields) for r in rows]


def test_a_play_dropped_by_quiet_hours_becomes_one_call_task(world: World) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    crm_field = world.ctx.mapping.field_map(person.ref.object_type).segments["industry"]
    if person.segments.get("industry") == "Healthcare":  # start from another value
        world.case.change_field(person.ref.object_type, person.ref.id, crm_field, "Retail")
        world.pull()
    world.case.change_field(person.ref.object_type, person.ref.id, crm_field, "Healthcare")
    world.pull()

    assert world.rows(person.ref.id) == []  # nothing texted at 22:00
    [(external_id, fields)] = _call_tasks(world)
    assert external_id.startswith(f"task:play:hot_lead_call:{person.ref}:")
    assert fields["subject"] == "Call instead: quiet hours in the lead's zone"
    assert "America/New_York" in fields["body"]  # the reason, with the zone it closed in

    # the same trigger decided again: still one task
    with world.ctx.store.begin() as conn:
        state = contacts.get(conn, person.ref)
        assert state is not None
        signal = Signal(
            SignalKind.FIELD_CHANGED,
            person.ref,
            {"field": "industry", "from": None, "to": "Healthcare"},
            state.modstamp,
        )
        assert world.ctx.planner is not None
        world.ctx.planner.plan(conn, state, [signal], LATE)
    assert len(_call_tasks(world)) == 1

    writeback = Writeback(
        world.ctx.store, world.ctx.crm, world.sandbox.state.clock, world.vendor, "w1"
    )
    writeback.drain(max_rounds=2)
    writeback.drain(max_rounds=2)
    emulator = world.sandbox.emulators[world.vendor]
    if world.vendor == "salesforce":
        found = emulator.find("Task", "SMS_Message_Id__c", external_id)
        assert [t["Subject"] for t in found] == ["Call instead: quiet hours in the lead's zone"]
        assert found[0]["OwnerId"] == state.owner_id
    else:
        found = emulator.find("tasks", "smsync_external_id", external_id)
        assert len(found) == 1
        props = found[0]["properties"]
        assert props["hs_task_subject"] == "Call instead: quiet hours in the lead's zone"
        assert props["hubspot_owner_id"] == state.owner_id
    assert world.texts_to(person.phone) == []
