"""Issue 15 parts 3 and 5 on both CRMs against the sandbox, over real HTTP: a rep texts
back from the CRM by creating the mapping's `rep_send:` record (Salesforce: a Task with
Type SMS and Status "Send SMS"; HubSpot: a task marked SMS) through the vendor's REST
API. The real `rep_send` job (short interval) sends it through the manual chokepoint; the
record reads "sent" (or why not, in words), the text is the rep's activity, the follow-up
task is closed, the SLA met and `sla_due` cleared; bad input and an opted-out number are
refused on the record; two passes and two replicas send once."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from connector.config import RepSend
from connector.demo.crm_admin import CrmAdmin
from connector.demo.reps import text_back
from connector.domain.model import ContactState, CrmWrite
from connector.engine import rep_send, send
from connector.engine.cycle import run_cycle
from connector.runtime.jobs import Jobs
from connector.runtime.registry import build_jobs, rep_send_job, writeback_job
from connector.runtime.wiring import build
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.server import Sandbox
from connector.store import rep_sends, sla, sms_outbox
from tests.integration.plays_kit import World, make_world, webhooks_served

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "scenario.yaml"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday, 10:00 in New York


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


@pytest.fixture
def rep(world: World) -> Iterator[CrmAdmin]:
    admin = CrmAdmin(world.vendor, world.sandbox)
    yield admin
    admin.close()


def cfg_of(world: World) -> RepSend:
    found = world.ctx.mapping.rep_send
    assert found is not None
    return found


def reply(world: World, phone: str, body: str) -> str:
    r = requests.post(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio/inbound",
        json={"from": phone, "body": body},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    sid: str = r.json()["sid"]
    return sid


def rows(world: World, obj: str, field: str, value: str) -> list[dict[str, Any]]:
    found = world.sandbox.emulators[world.vendor].find(obj, field, value)
    return [dict(r.get("properties", r)) if world.vendor == "hubspot" else dict(r) for r in found]


def record(world: World, obj: str, crm_id: str) -> dict[str, Any]:
    key = "Id" if world.vendor == "salesforce" else "hs_object_id"
    [row] = rows(world, obj, key, crm_id)
    return row


def other_rep(world: World, person: ContactState) -> str:
    """A seeded rep who is not the record's owner: the activity must be the sender's."""
    owners = sorted(str(o) for o in world.case.seeded_owners() if o != person.owner_id)
    return owners[0]


def now_ms(world: World) -> int:
    return int(world.sandbox.state.clock.now().timestamp() * 1000)


def replied_person(world: World) -> tuple[ContactState, str]:
    """A person who asked about pricing: a follow-up task and an open SLA timer."""
    person = world.person_only_in_new_york()
    assert person.phone is not None
    world.at(MORNING + timedelta(minutes=3))
    sid = reply(world, person.phone, "How much does it cost?")
    report = run_cycle(world.ctx)
    assert report.writeback is not None
    assert report.writeback["dead"] == 0
    with world.ctx.store.begin() as conn:
        assert sla.open_timer(conn, person.ref) is not None
    return person, sid


def test_a_rep_texts_back_from_the_crm_through_the_real_job(world: World, rep: CrmAdmin) -> None:
    person, sid = replied_person(world)
    cfg, m = cfg_of(world), world.ctx.mapping
    sf = world.vendor == "salesforce"
    follow_up = rows(world, m.tasks.object, m.tasks.external_id_field, f"task:{sid}:follow_up")
    assert follow_up[0]["Status" if sf else "hs_task_status"] == m.tasks.status.open
    person_row = record(world, person.ref.object_type, person.ref.id)
    sla_field = m.field_map(person.ref.object_type).sla_due
    assert sla_field is not None
    assert person_row[sla_field], "the reply set sla_due"

    sender = other_rep(world, person)
    world.at(MORNING + timedelta(minutes=20))  # inside the 4 business hours
    body = "Hi! The price sheet is on its way; 15 minutes tomorrow?"

    settings = world.ctx.settings.model_copy(
        update={"rep_send_interval_s": 0.5, "writeback_interval_s": 0.5}
    )
    holder: list[Jobs] = []
    parts = build(
        settings,
        store=world.ctx.store,
        clock=world.sandbox.state.clock,
        mapping=m,
        planner=world.ctx.planner,
        wake=lambda name: holder[0].wake(name) if holder else False,
    )
    job_list, _ = build_jobs(parts, {"rep_send": rep_send_job, "writeback": writeback_job})
    jobs = Jobs(job_list)
    holder.append(jobs)
    jobs.start()
    try:
        time.sleep(1.2)  # the start-up pass and an idle one or two: the job is ticking
        task_id = text_back(rep, cfg, person.ref, sender, body, now_ms=now_ms(world))
        started = time.monotonic()
        deadline = started + 20
        while time.monotonic() < deadline:
            row = record(world, cfg.object, task_id)
            closed = rows(world, m.tasks.object, m.tasks.external_id_field, f"task:{sid}:follow_up")
            if row.get(cfg.result_field) == "sent" and closed[0][
                "Status" if sf else "hs_task_status"
            ] == (m.tasks.status.done):
                break
            time.sleep(0.2)
        took = time.monotonic() - started
    finally:
        jobs.shutdown(5)
    print(f"{world.vendor}: the rep's text was sent and the record read 'sent' in {took:.1f} s")
    assert took < 20

    row = record(world, cfg.object, task_id)
    assert row[cfg.result_field] == "sent"
    assert row[cfg.status_field] == cfg.done_status
    [text] = world.texts_to(person.phone or "")
    assert text["body"] == body
    # the rep's activity, owned by the rep who created the record (not the record's owner)
    [act] = rows(world, m.activity.object, m.activity.external_id_field, f"sms:{text['sid']}")
    assert act["OwnerId" if sf else "hubspot_owner_id"] == sender
    if sf:  # one Task on the timeline: the rep's own, now the text's activity
        assert act["Id"] == task_id
        assert act[cfg.result_field] == "sent"
        assert act["Subject"] == f"SMS sent: {body}"
        texts = [t for t in rows(world, "Task", "WhoId", person.ref.id) if body in t["Description"]]
        assert [t["Id"] for t in texts] == [task_id]
    # the follow-up closed, the SLA met, sla_due cleared
    with world.ctx.store.begin() as conn:
        [timer] = sla.for_contact(conn, person.ref)
        assert timer.timer.met is not None
        assert timer.timer.breached is None
        [sent] = [
            r
            for r in (sms_outbox.by_key(conn, k) for k in _keys(conn))
            if r is not None and r.state == "sent"
        ]
        assert sent.idempotency_key.startswith("rep:")
    person_row = record(world, person.ref.object_type, person.ref.id)
    assert not person_row.get(sla_field)

    # Twilio reports the text delivered: the same activity says so and stays the sender's
    world.at(MORNING + timedelta(minutes=25))
    tick = requests.post(f"{world.sandbox.urls['admin']}/__sandbox/twilio/tick", timeout=10)
    assert tick.status_code == 200, tick.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run_cycle(world.ctx)
        [act] = rows(world, m.activity.object, m.activity.external_id_field, f"sms:{text['sid']}")
        if "delivered" in str(act.get("Description" if sf else "hs_communication_body")):
            break
        time.sleep(0.2)
    assert "delivered" in str(act.get("Description" if sf else "hs_communication_body")), act
    assert act["OwnerId" if sf else "hubspot_owner_id"] == sender


def _keys(conn: Any) -> list[str]:
    import sqlalchemy as sa

    from connector.store.tables import sms_outbox as t

    return list(conn.execute(sa.select(t.c.idempotency_key)).scalars())


def test_an_opted_out_number_is_blocked_and_the_record_says_why(
    world: World, rep: CrmAdmin
) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    world.at(MORNING + timedelta(minutes=3))
    reply(world, person.phone, "STOP")
    run_cycle(world.ctx)
    cfg = cfg_of(world)
    task_id = text_back(rep, cfg, person.ref, other_rep(world, person), "Still there?")
    report = rep_send.run(world.ctx)
    assert report.blocked == 1
    assert report.written == 1
    row = record(world, cfg.object, task_id)
    result = row[cfg.result_field]
    assert (
        result == 'blocked: the number opted out on Mar 3, 2026 by texting "STOP"; nothing was sent'
    )

    assert row[cfg.status_field] == cfg.done_status
    # only the opt-out confirmation went to the number
    assert all(t["body"] != "Still there?" for t in world.texts_to(person.phone))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty", "failed: the text is empty"),
        ("long", "failed: the text is 1,601 characters; the limit is 1,600"),
        ("no_phone", "failed: the person has no phone number"),
    ],
)
def test_bad_input_is_written_back_and_nothing_is_sent(
    world: World, rep: CrmAdmin, case: str, expected: str
) -> None:
    person = world.person_only_in_new_york()
    cfg = cfg_of(world)
    body = {"empty": "   ", "long": "x" * 1601}.get(case, "Hello there")
    if case == "no_phone":
        m = world.ctx.mapping
        for phone_field in m.contact_object(person.ref.object_type).phone_fields:
            world.case.change_field(person.ref.object_type, person.ref.id, phone_field, None)
        world.pull()
    phone = person.phone or ""
    before = len(world.texts_to(phone))
    task_id = text_back(rep, cfg, person.ref, other_rep(world, person), body)
    report = rep_send.run(world.ctx)
    assert report.failed == 1
    row = record(world, cfg.object, task_id)
    assert row[cfg.result_field].startswith(expected), row[cfg.result_field]
    assert row[cfg.status_field] == cfg.done_status
    assert len(world.texts_to(phone)) == before
    with world.ctx.store.begin() as conn:
        assert rep_sends.count(conn) == 1
        assert not [k for k in _keys(conn) if k.startswith("rep:")]
    if case != "empty":
        return
    # the rep fixes the text and asks again on the same record: a new request, sent once
    world.case.change_field(cfg.object, task_id, cfg.body_field, "Hello again")
    world.case.change_field(cfg.object, task_id, cfg.status_field, cfg.send_status)
    report = rep_send.run(world.ctx)
    assert (report.claimed, report.written) == (1, 1)
    assert record(world, cfg.object, task_id)[cfg.result_field] == "sent"
    assert rep_send.run(world.ctx).claimed == 0
    assert [t["body"] for t in world.texts_to(phone)][before:] == ["Hello again"]


def test_two_passes_and_two_replicas_send_once(world: World, rep: CrmAdmin) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    cfg = cfg_of(world)
    task_id = text_back(rep, cfg, person.ref, other_rep(world, person), "Once only, please")
    # a second replica: its own components over the same store, the same CRM and Twilio
    twin = build(
        world.ctx.settings,
        store=world.ctx.store,
        clock=world.sandbox.state.clock,
        mapping=world.ctx.mapping,
        planner=world.ctx.planner,
    ).engine
    from dataclasses import replace

    twin = replace(twin, worker_id="replica-2")
    barrier = threading.Barrier(2)
    reports: list[rep_send.RepSendReport] = []

    def go(ctx: Any) -> None:
        barrier.wait()
        reports.append(rep_send.run(ctx))

    threads = [threading.Thread(target=go, args=(c,)) for c in (world.ctx, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.claimed for r in reports) == 1
    again = rep_send.run(world.ctx)  # a third pass: the record is settled
    assert again.claimed == 0
    assert send.run(world.ctx).sent == 0  # nothing left over for the send job either
    sent = [t for t in world.texts_to(person.phone) if t["body"] == "Once only, please"]
    assert len(sent) == 1
    assert record(world, cfg.object, task_id)[cfg.result_field] == "sent"


def test_an_idle_pass_costs_one_call_and_a_found_one_three_at_most(
    world: World, rep: CrmAdmin
) -> None:
    """README's budget: one API call per pass while nothing waits (240/h at 15 s)."""
    stats = world.sandbox.state.stats
    rep_send.run(world.ctx)  # a first pass logs in (Salesforce), like any first call
    before = stats.calls(world.vendor)
    for _ in range(5):
        assert rep_send.run(world.ctx).found == 0
    idle = (stats.calls(world.vendor) - before) / 5
    print(f"{world.vendor}: {idle:.0f} API call(s) per idle rep_send pass")
    assert idle == 1
    person = world.person_only_in_new_york()
    text_back(rep, cfg_of(world), person.ref, other_rep(world, person), "Quick question?")
    before = stats.calls(world.vendor)
    report = rep_send.run(world.ctx)
    assert (report.found, report.written) == (1, 1)
    # the query (+ HubSpot's association read) and the outcome's write
    assert stats.calls(world.vendor) - before == (2 if world.vendor == "salesforce" else 3)


def test_a_text_in_quiet_hours_waits_and_the_record_says_so(world: World, rep: CrmAdmin) -> None:
    person = world.person_only_in_new_york()
    assert person.phone is not None
    cfg = cfg_of(world)
    world.at(datetime(2026, 3, 4, 3, 0, tzinfo=UTC))  # 22:00 in New York
    task_id = text_back(rep, cfg, person.ref, other_rep(world, person), "Tomorrow at 10?")
    report = rep_send.run(world.ctx)
    assert (report.claimed, report.queued, report.written) == (1, 1, 1)
    row = record(world, cfg.object, task_id)
    result = row[cfg.result_field]
    # 8:00 AM in New York, in the rep's own zone (the seeded rep's Central or Eastern)
    assert re.fullmatch(
        r"queued: quiet hours at the person's location; goes out [78]:00 AM Wednesday [CE]T",
        result,
    ), result
    assert row[cfg.status_field] == cfg.send_status  # not finished yet
    assert rep_send.run(world.ctx).written == 0  # the same words are not written twice
    assert not [t for t in world.texts_to(person.phone) if t["body"] == "Tomorrow at 10?"]
    world.at(datetime(2026, 3, 4, 14, 5, tzinfo=UTC))  # 09:05: the send job takes it
    assert send.run(world.ctx).sent == 1
    assert rep_send.run(world.ctx).written == 1
    row = record(world, cfg.object, task_id)
    assert (row[cfg.result_field], row[cfg.status_field]) == ("sent", cfg.done_status)


@pytest.mark.parametrize("world", ["salesforce"], indirect=True)
def test_a_reps_task_deleted_before_the_log_gets_the_text_its_own_task(
    world: World, rep: CrmAdmin
) -> None:
    """The text went; the rep deleted the Task before writeback logged it: the activity
    is a Task of its own (an update by Id of a deleted Task cannot land), written once."""
    cfg, m = cfg_of(world), world.ctx.mapping
    person = world.person_only_in_new_york()
    task_id = text_back(rep, cfg, person.ref, other_rep(world, person), "see you at 10")
    emulator = cast("SalesforceEmulator", world.sandbox.emulators["salesforce"])
    emulator.writer.delete(emulator.schema["Task"], task_id)
    sid = "SM" + "7" * 32
    write = CrmWrite(
        "activity",
        f"sms:{sid}",
        person.ref,
        {
            "message_sid": sid,
            "direction": "outbound",
            "body": "see you at 10",
            "at": MORNING,
            "status": "sent",
            "into_record": task_id,
        },
    )
    for _ in range(2):  # a replay updates the Task it made
        [result] = world.ctx.crm.write([write])
        assert result.ok, result
    [act] = rows(world, m.activity.object, m.activity.external_id_field, f"sms:{sid}")
    assert act["Id"] != task_id
    assert act["Subject"] == "SMS sent: see you at 10"
