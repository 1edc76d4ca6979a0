"""Issue 15 part 1 on both CRMs against the sandbox, read back as a rep would: a play texts
a person, they answer 22 s later through the sandbox's Twilio and the real webhook app,
and the follow-up task in the CRM names the person and the gist, holds the conversation
(both directions, in the owner's zone), the play the reply answered, the disposition and
its rule, the talk track and the due time in the owner's zone and words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from connector.config import Settings
from connector.domain.model import ContactState
from connector.domain.sla import add_business_time, clock_words, due_words
from connector.engine import send
from connector.engine.cycle import run_cycle
from connector.engine.reply_policy import ReplyPolicy
from connector.runtime.webhooks import build_webhook_app
from connector.sandbox.server import Sandbox
from tests.integration.plays_kit import World, make_world
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "scenario.yaml"
# Tuesday 3 March 2026, 10:00 in New York
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    start = MORNING - timedelta(hours=1)
    with make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING) as w:
        hook = Settings(TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=w.db)
        app = build_webhook_app(hook, w.ctx.store, clock=sandbox.state.clock)
        with Served(app) as served:
            r = requests.post(
                f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
                json={"base_url": served.url},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            yield w


def reply(world: World, phone: str, body: str) -> str:
    r = requests.post(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio/inbound",
        json={"from": phone, "body": body},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    sid: str = r.json()["sid"]
    return sid


def crm_task(world: World, external_id: str) -> dict[str, Any]:
    tasks = world.ctx.mapping.tasks
    found = world.sandbox.emulators[world.vendor].find(
        tasks.object, tasks.external_id_field, external_id
    )
    assert len(found) == 1, external_id
    row = found[0]
    return dict(row.get("properties", row)) if world.vendor == "hubspot" else dict(row)


def owner_zone(world: World, state: ContactState) -> ZoneInfo:
    """The zone a rep reads times in, from the CRM itself (Salesforce's user record) or
    the mapping's default (HubSpot owners hold none)."""
    if world.vendor == "salesforce":
        [user] = world.sandbox.emulators["salesforce"].find("User", "Id", str(state.owner_id))
        return ZoneInfo(user["TimeZoneSidKey"])
    zone = world.ctx.mapping.tasks.owner_time_zone
    assert zone is not None
    return ZoneInfo(zone)


def test_a_reply_to_a_play_becomes_a_task_a_rep_can_act_on(world: World) -> None:
    person = world.person_only_in_new_york()
    phone = person.phone
    assert phone is not None
    assert person.owner_id
    world.edit(person, "time_zone", "America/New_York")
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()
    world.at(MORNING + timedelta(minutes=3))
    assert send.run(world.ctx).sent == 1
    [play_text] = world.texts_to(phone)

    world.at(MORNING + timedelta(minutes=3, seconds=22))  # the 22 s
    sid = reply(world, phone, "How much does it cost?")
    report = run_cycle(world.ctx)
    assert report.ingest["processed"] >= 1
    assert report.ingest["failed"] == 0
    assert report.writeback is not None
    assert report.writeback["dead"] == 0

    task = crm_task(world, f"task:{sid}:follow_up")
    sf = world.vendor == "salesforce"
    subject = task["Subject" if sf else "hs_task_subject"]
    body = task["Description" if sf else "hs_task_body"]
    first, last = person.segments["first_name"], person.segments["last_name"]
    assert subject == f"{first} {last} asked about pricing (SMS)"
    assert 'answering play "speed_to_lead"' in body
    assert 'play "none"' not in body
    zone = owner_zone(world, person)
    sent_at = MORNING + timedelta(minutes=3)
    replied_at = sent_at + timedelta(seconds=22)
    # the conversation, both directions, oldest first, in the owner's zone
    ours = (
        f"[{clock_words(sent_at, zone)}] Us (speed_to_lead): {' '.join(play_text['body'].split())}"
    )
    theirs = f"[{clock_words(replied_at, zone)}] {first} {last}: How much does it cost?"
    assert ours in body
    assert theirs in body
    assert body.index(ours) < body.index(theirs)
    assert "Disposition: pricing_question (rule rules[" in body
    assert "matched" in body
    assert "Talk track: Share the current price sheet and offer a 15-minute call." in body
    calendar = ReplyPolicy.from_mapping(world.ctx.mapping).calendar(person.owner_team)
    due = add_business_time(replied_at, timedelta(hours=4), calendar)
    words = due_words(due, timedelta(hours=4), zone)
    assert f"Please respond {words}." in body
    assert words.endswith(", 4 business hours")
    assert "+00:00" not in body  # no raw UTC for the rep
    assert task["OwnerId" if sf else "hubspot_owner_id"] == person.owner_id
