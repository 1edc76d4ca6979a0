"""A `field_changed` (or `stage_entered`) play on a custom segment fires end to end, on both
CRMs: an admin edits the segment's CRM field through the vendor's API, the pull sees the
change, the planner queues the play's text, and the send step texts it through the
sandbox's Twilio."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.engine import pull, send
from connector.sandbox.server import Sandbox
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = {
    "field_changed": ROOT / "tests" / "data" / "plays" / "segment_trigger.yaml",
    "stage_entered": ROOT / "tests" / "data" / "plays" / "segment_stage.yaml",
}
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(
    params=[(crm, kind) for crm in ("salesforce", "hubspot") for kind in PLAYS],
    ids="-".join,
)
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    start = MORNING - timedelta(hours=1)
    crm, kind = request.param
    with make_world(crm, sandbox, tmp_path, PLAYS[kind], seeded_at=start, start=MORNING) as w:
        yield w


def _set_segment(world: World, ref_type: str, ref_id: str, segment: str, value: str) -> None:
    crm_field = world.ctx.mapping.field_map(ref_type).segments[segment]
    world.case.change_field(ref_type, ref_id, crm_field, value)


def test_field_changed_on_a_custom_segment_fires_once(world: World) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    other = "Finance" if person.segments.get("industry") != "Finance" else "Retail"
    _set_segment(world, person.ref.object_type, person.ref.id, "industry", other)
    world.pull()
    assert world.rows(person.ref.id) == []  # the play waits for Healthcare only

    _set_segment(world, person.ref.object_type, person.ref.id, "industry", "Healthcare")
    world.sandbox.state.clock.advance(1)
    report = pull.run(world.ctx)
    assert report.signals >= 1
    [row] = world.rows(person.ref.id)
    assert row.play == "healthcare_welcome"
    assert send.run(world.ctx).sent == 1
    [text] = world.texts_to(person.phone)
    assert text["body"].startswith("Welcome to our healthcare program.")

    world.pull()  # nothing changed since: no second text
    assert len(world.rows(person.ref.id)) == 1
