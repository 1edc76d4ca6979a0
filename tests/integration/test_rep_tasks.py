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

from connector.domain.model import ContactState
from connector.domain.sla import add_business_time, clock_words, due_words
from connector.engine import send
from connector.engine.cycle import run_cycle
from connector.engine.manual import manual_send
from connector.engine.reply_policy import ReplyPolicy
from connector.sandbox.server import Sandbox
from connector.store import sla
from tests.integration.plays_kit import World, make_world, webhooks_served

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
    made = make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING)
    with made as w, webhooks_served(w, sandbox):
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


def test_an_unprompted_reply_names_no_play_and_a_reschedule_is_read_as_one(
    world: World,
) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    world.at(MORNING + timedelta(minutes=3))
    sid = reply(world, person.phone, "can we do thursday instead? thx")
    run_cycle(world.ctx)
    task = crm_task(world, f"task:{sid}:follow_up")
    body = task["Description" if world.vendor == "salesforce" else "hs_task_body"]
    first, last = person.segments["first_name"], person.segments["last_name"]
    assert body.startswith(f"{first} {last} ({person.phone}) asked to reschedule.\n"), body
    assert "play" not in body.split("\n")[0]  # no 'answering play "none"'


def crm_rows(world: World, obj: str, field: str, value: str) -> list[dict[str, Any]]:
    found = world.sandbox.emulators[world.vendor].find(obj, field, value)
    return [dict(r.get("properties", r)) if world.vendor == "hubspot" else dict(r) for r in found]


def crm_record(world: World, state: ContactState) -> dict[str, Any]:
    key = "Id" if world.vendor == "salesforce" else "hs_object_id"
    [row] = crm_rows(world, state.ref.object_type, key, state.ref.id)
    return row


def test_the_conversation_and_the_kept_fields_on_the_record(world: World) -> None:
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
    world.at(MORNING + timedelta(minutes=4))
    run_cycle(world.ctx)  # the play's status settles: its activity, the motion, the thread
    world.at(MORNING + timedelta(minutes=5))
    sid = reply(world, phone, "How much does it cost?")
    report = run_cycle(world.ctx)
    assert report.writeback is not None
    assert report.writeback["dead"] == 0

    m = world.ctx.mapping
    sf = world.vendor == "salesforce"
    owner_key = "OwnerId" if sf else "hubspot_owner_id"
    # one activity per text, both directions, owned by the record's owner
    for text_sid, direction in ((play_text["sid"], "Outbound"), (sid, "Inbound")):
        [act] = crm_rows(world, m.activity.object, m.activity.external_id_field, f"sms:{text_sid}")
        assert act[owner_key] == person.owner_id
        if sf:
            assert act["Type"] == "SMS"
            assert act["TaskSubtype"] == "Task"
            assert act["SMS_Direction__c"] == direction
            assert act["WhoId"] == person.ref.id
            assert f"Direction: {direction}" in act["Description"]
        else:
            assert act["hs_communication_channel_type"] == "SMS"
            assert act["hs_communication_body"].startswith(f"{direction} SMS")
    [play_act] = crm_rows(
        world, m.activity.object, m.activity.external_id_field, f"sms:{play_text['sid']}"
    )
    assert "speed_to_lead" in play_act["Description" if sf else "hs_communication_body"]
    if sf:  # a closed SMS Task moves the record's last activity
        assert str(crm_record(world, person)["LastActivityDate"]) == MORNING.date().isoformat()

    # the fields a rep reads on the record
    fmap = m.field_map(person.ref.object_type)
    rec = crm_record(world, person)
    assert rec[fmap.disposition] == m.to_crm("disposition", "pricing_question")
    assert rec[fmap.journey_state] == m.to_crm("journey_state", "engaged")
    assert fmap.active_motion
    assert rec[fmap.active_motion] == "speed_to_lead"
    assert fmap.sla_due
    assert fmap.sla_breached
    assert rec[fmap.sla_due]
    assert str(rec[fmap.sla_breached]).lower() in ("false", "")
    assert fmap.sms_thread
    thread = rec[fmap.sms_thread]
    first = person.segments["first_name"]
    assert thread.index("Us (speed_to_lead):") < thread.index(f"{first}")
    assert thread.endswith("How much does it cost?")


def test_journey_moves_on_meeting_and_close_and_the_motion_ends(world: World) -> None:
    m = world.ctx.mapping
    person = world.person_only_in_new_york()
    assert person.phone is not None
    world.edit(person, "time_zone", "America/New_York")
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()
    world.at(MORNING + timedelta(minutes=3))
    assert send.run(world.ctx).sent == 1
    world.at(MORNING + timedelta(minutes=4))
    run_cycle(world.ctx)
    fmap = m.field_map(person.ref.object_type)
    assert fmap.active_motion
    assert crm_record(world, person)[fmap.active_motion] == "speed_to_lead"

    # a meeting booked in the CRM moves the journey
    meeting_field = fmap.segments["meeting_time"]
    when = "2026-03-10T15:00:00.000+0000" if world.vendor == "salesforce" else "1773154800000"
    world.case.change_field(person.ref.object_type, person.ref.id, meeting_field, when)
    world.at(MORNING + timedelta(minutes=5))
    run_cycle(world.ctx)
    rec = crm_record(world, person)
    assert rec[fmap.journey_state] == m.to_crm("journey_state", "meeting_booked")
    assert rec[fmap.active_motion] == "speed_to_lead"  # still in motion

    # the deal closes: the journey closes and the motion ends
    world.edit(person, "lifecycle_stage", "customer")
    world.at(MORNING + timedelta(minutes=6))
    run_cycle(world.ctx)
    rec = crm_record(world, person)
    assert rec[fmap.journey_state] == m.to_crm("journey_state", "closed")
    assert rec.get(fmap.active_motion) in (None, "")


def test_a_motion_ends_when_no_play_has_texted_within_the_reply_window(world: World) -> None:
    m = world.ctx.mapping
    person = world.person_only_in_new_york()
    assert person.phone is not None
    world.edit(person, "time_zone", "America/New_York")
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()
    world.at(MORNING + timedelta(minutes=3))
    assert send.run(world.ctx).sent == 1
    world.at(MORNING + timedelta(minutes=4))
    run_cycle(world.ctx)
    fmap = m.field_map(person.ref.object_type)
    assert fmap.active_motion
    assert crm_record(world, person)[fmap.active_motion] == "speed_to_lead"

    world.at(MORNING + m.tasks.reply_window - timedelta(hours=1))
    run_cycle(world.ctx)  # still within the window
    assert crm_record(world, person)[fmap.active_motion] == "speed_to_lead"
    world.at(MORNING + m.tasks.reply_window + timedelta(hours=1))
    run_cycle(world.ctx)
    assert crm_record(world, person).get(fmap.active_motion) in (None, "")


def test_a_reps_text_meets_the_sla_closes_the_task_and_clears_sla_due(world: World) -> None:
    m = world.ctx.mapping
    person = world.person_only_in_new_york()
    phone = person.phone
    assert phone is not None
    world.edit(person, "time_zone", "America/New_York")
    world.pull()
    sid = reply(world, phone, "How much does it cost?")
    run_cycle(world.ctx)
    fmap = m.field_map(person.ref.object_type)
    assert fmap.sla_due
    assert crm_record(world, person)[fmap.sla_due]  # the timer runs
    world.at(MORNING + timedelta(minutes=20))
    answer = manual_send(
        world.ctx.store,
        world.ctx.sms,
        world.ctx.clock,
        send.policy_of(world.ctx),
        contact_id=person.ref.id,
        play="speed_to_lead",
        body="Hi, here is our price sheet.",
    )
    assert answer.sid
    world.at(MORNING + timedelta(minutes=21))
    run_cycle(world.ctx)
    task = crm_task(world, f"task:{sid}:follow_up")
    assert task["Status" if world.vendor == "salesforce" else "hs_task_status"] == (
        m.tasks.status.done
    )
    rec = crm_record(world, person)
    assert rec.get(fmap.sla_due) in (None, "")
    assert fmap.sla_breached
    assert str(rec.get(fmap.sla_breached)).lower() in ("false", "")
    with world.ctx.store.begin() as conn:
        (timer,) = sla.for_contact(conn, person.ref)
    assert timer.timer.met is not None
    # met when the text went out (the sandbox clock runs on from where it was set)
    assert MORNING + timedelta(minutes=20) <= timer.timer.met < MORNING + timedelta(minutes=21)
