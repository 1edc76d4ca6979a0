"""Issue 7 acceptance 1, 4 and 5 on both CRMs against the sandbox: replies injected on the
sandbox's handset reach the real webhook app over HTTP, then one `run_cycle` turns them
into exactly the expected activities, tasks, owners, due times, dispositions and consent
fields, checked through the emulators' external-id listing."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import Settings, load_mapping
from connector.domain.model import ContactState, CrmRef
from connector.domain.sla import add_business_time
from connector.engine.context import EngineContext
from connector.engine.cycle import run_cycle
from connector.engine.reply_policy import ReplyPolicy, sla_for
from connector.runtime.webhooks import build_webhook_app
from connector.runtime.wiring import build
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import contacts
from connector.store.tables import contact_state
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]
# A Tuesday, 10:00 in New York (15:00 UTC) and 09:00 in Chicago: inside business hours.
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SF_TIME = "%Y-%m-%d"


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@dataclass
class World:
    vendor: str
    sandbox: Sandbox
    ctx: EngineContext
    served: Served

    def inbound(self, phone: str, body: str) -> str:
        r = requests.post(
            f"{self.sandbox.urls['admin']}/__sandbox/twilio/inbound",
            json={"from": phone, "body": body},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        deliveries = r.json()["deliveries"]
        assert any(d.get("status_code") == 200 for d in deliveries), deliveries
        sid: str = r.json()["sid"]
        return sid

    def find(self, obj: str, field: str, value: str) -> list[dict[str, Any]]:
        found = self.sandbox.emulators[self.vendor].find(obj, field, value)
        return [r.get("properties", r) if self.vendor == "hubspot" else r for r in found]

    def record(self, ref_type: str, ref_id: str) -> dict[str, Any]:
        field = "Id" if self.vendor == "salesforce" else "hs_object_id"
        found = self.find(ref_type, field, ref_id)
        assert len(found) == 1, (ref_type, ref_id)
        return found[0]


def _world(vendor: str, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    sandbox.state.faults.clear()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    sandbox.emulators[vendor].seed(generate(60, seed=5))
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(db)
    settings = sandbox_settings(sandbox, SMSYNC_CRM=vendor, SMSYNC_DATABASE_URL=db)
    mapping = load_mapping(ROOT / "mappings" / f"{vendor}.yaml")
    clock = FrozenClock(NOW)
    ctx = build(settings, clock=clock, mapping=mapping, planner=None).engine
    hook_settings = Settings(
        TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=db
    )
    with Served(build_webhook_app(hook_settings, ctx.store, clock=clock)) as served:
        r = requests.post(
            f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
            json={"base_url": served.url},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        yield World(vendor, sandbox, ctx, served)
    ctx.store.close()


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    yield from _world(request.param, sandbox, tmp_path)


def _people(ctx: EngineContext) -> list[ContactState]:
    with ctx.store.begin() as conn:
        refs = conn.execute(
            contact_state.select().with_only_columns(
                contact_state.c.crm_object_type, contact_state.c.crm_id
            )
        ).all()
        out = [contacts.get(conn, CrmRef(t, i)) for t, i in refs]
    return [s for s in out if s is not None]


def _pick(people: list[ContactState]) -> tuple[list[ContactState], list[ContactState]]:
    """Owned single-record people (in different numbers), and one shared number's records."""
    by_phone: dict[str, list[ContactState]] = defaultdict(list)
    for s in people:
        if s.phone:
            by_phone[s.phone].append(s)
    singles = [v[0] for v in by_phone.values() if len(v) == 1 and v[0].owner_id]
    shared = next(v for v in by_phone.values() if len(v) > 1)
    return singles, shared


def _due(world: World, state: ContactState, disposition: str) -> datetime:
    mapping = world.ctx.mapping
    rule = mapping.rule(disposition)
    _, within = sla_for(mapping, rule.sla if rule else None, disposition)
    calendar = ReplyPolicy.from_mapping(mapping).calendar(state.owner_team)
    return add_business_time(NOW, within, calendar)


def _seed_shared(world: World) -> None:
    """HubSpot keeps people in one object: make two contacts share a number there."""
    if world.vendor == "salesforce":
        return
    people = _people(world.ctx)
    a, b = people[0], people[1]
    assert a.phone
    r = requests.patch(
        f"{world.sandbox.urls['hubspot']}/crm/v3/objects/contacts/{b.ref.id}",
        json={"properties": {"mobilephone": a.phone, "phone": a.phone}},
        headers={"Authorization": f"Bearer {world.sandbox.credentials.hubspot_token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_replies_become_activities_tasks_and_fields(world: World) -> None:
    first = run_cycle(world.ctx)
    assert first.pull["contacts"] > 0
    _seed_shared(world)
    world.ctx.clock.at = NOW + timedelta(seconds=1)  # type: ignore[attr-defined]
    run_cycle(world.ctx)
    world.ctx.clock.at = NOW  # type: ignore[attr-defined]
    singles, shared = _pick(_people(world.ctx))
    reply, stop, resched, pricing, wrong = singles[:5]
    for person in (reply, stop, resched, pricing, wrong):
        assert person.phone
    assert reply.phone
    assert stop.phone
    assert resched.phone
    assert pricing.phone
    assert wrong.phone
    sids = {
        "interested": world.inbound(reply.phone, "Sounds interesting, tell me more"),
        "opted_out": world.inbound(stop.phone, "Stop."),
        "reschedule_requested": world.inbound(resched.phone, "Can we reschedule please?"),
        "pricing_question": world.inbound(pricing.phone, "How much does it cost?"),
        "wrong_number": world.inbound(wrong.phone, "Wrong number, who is this"),
        "unknown": world.inbound("+12025550143", "hello? interested"),
        "shared": world.inbound(str(shared[0].phone), "call me tomorrow"),
    }
    report = run_cycle(world.ctx)
    assert report.ingest["processed"] == 7
    assert report.ingest["failed"] == 0
    assert report.writeback is not None
    assert report.writeback["dead"] == 0, report.writeback

    m = world.ctx.mapping
    act_obj, act_ext = m.activity.object, m.activity.external_id_field
    task_obj, task_ext = m.tasks.object, m.tasks.external_id_field
    # every reply has exactly one activity
    for sid in sids.values():
        assert len(world.find(act_obj, act_ext, f"sms:{sid}")) == 1
    # follow-up tasks: owner and due time
    sf = world.vendor == "salesforce"
    for name, person in (
        ("interested", reply),
        ("reschedule_requested", resched),
        ("pricing_question", pricing),
    ):
        found = world.find(task_obj, task_ext, f"task:{sids[name]}:follow_up")
        assert len(found) == 1, name
        task = found[0]
        due = _due(world, person, name)
        if sf:
            assert task["OwnerId"] == person.owner_id
            assert task["ActivityDate"] == due.strftime(SF_TIME)
            assert task["Status"] == "Not Started"
        else:
            assert task["hubspot_owner_id"] == person.owner_id
            assert task["hs_task_status"] == "NOT_STARTED"
        record = world.record(person.ref.object_type, person.ref.id)
        disp_field = m.field_map(person.ref.object_type).disposition
        assert record[disp_field] == m.to_crm("disposition", name)
    # no task for STOP and wrong number; the wrong number ends the motion
    for name in ("opted_out", "wrong_number"):
        assert world.find(task_obj, task_ext, f"task:{sids[name]}:follow_up") == []
        assert world.find(task_obj, task_ext, f"task:{sids[name]}:review") == []
    # STOP: consent fields written
    fmap = m.field_map(stop.ref.object_type)
    rec = world.record(stop.ref.object_type, stop.ref.id)
    assert rec[fmap.consent_status] == m.to_crm("consent_status", "opted_out")
    assert fmap.consent_source
    assert rec[fmap.consent_source] == m.to_crm("consent_source", "keyword")
    # unknown and shared numbers: one review task each, to the review owner
    for key in ("unknown", "shared"):
        found = world.find(task_obj, task_ext, f"task:{sids[key]}:review")
        assert len(found) == 1, key
        owner = found[0]["OwnerId" if sf else "hubspot_owner_id"]
        assert owner == (m.tasks.review_owner_id if not sf else owner)
        assert world.find(task_obj, task_ext, f"task:{sids[key]}:follow_up") == []
    # the review task shows the whole number (the CRM is not a log) and links each record
    body_field = "Description" if sf else "hs_task_body"
    unknown = world.find(task_obj, task_ext, f"task:{sids['unknown']}:review")[0]
    assert "+12025550143 is on no CRM record" in unknown[body_field]
    review = world.find(task_obj, task_ext, f"task:{sids['shared']}:review")[0]
    assert f"{shared[0].phone} is on {len(shared)} records" in review[body_field]
    for state in shared:
        ref = state.ref
        link = (
            f"{world.sandbox.urls['salesforce']}/lightning/r/{ref.object_type}/{ref.id}/view"
            if sf
            else f"https://app.hubspot.com/contacts/2900000/record/0-1/{ref.id}"
        )
        assert f"- {ref.object_type} {ref.id}: {link}" in review[body_field]

    # a replayed cycle writes nothing new and duplicates nothing
    again = run_cycle(world.ctx)
    assert again.ingest["processed"] == 0
    for sid in sids.values():
        assert len(world.find(act_obj, act_ext, f"sms:{sid}")) == 1


def test_stop_on_a_shared_number_reaches_every_record(world: World) -> None:
    """Acceptance 4: no record sharing an opted-out number says otherwise afterwards."""
    run_cycle(world.ctx)
    _seed_shared(world)
    world.ctx.clock.at = NOW + timedelta(seconds=1)  # type: ignore[attr-defined]
    run_cycle(world.ctx)
    _, shared = _pick(_people(world.ctx))
    assert shared[0].phone
    world.inbound(shared[0].phone, "STOP")
    run_cycle(world.ctx)
    m = world.ctx.mapping
    for s in shared:
        rec = world.record(s.ref.object_type, s.ref.id)
        assert rec[m.field_map(s.ref.object_type).consent_status] == m.to_crm(
            "consent_status", "opted_out"
        )


def test_dry_run_writes_nothing_and_says_what_it_would(world: World) -> None:
    """Acceptance 5: zero CRM writes (sandbox stats), zero sends, and a listing."""
    run_cycle(world.ctx)
    singles, _ = _pick(_people(world.ctx))
    person = singles[0]
    assert person.phone
    sid = world.inbound(person.phone, "How much does it cost?")
    stats = world.sandbox.state.stats
    written = stats.records_written(world.vendor)
    twilio_calls = stats.calls("twilio")
    dry = run_cycle(world.ctx, dry_run=True)
    assert stats.records_written(world.vendor) == written
    assert stats.calls("twilio") == twilio_calls
    ids = {w["external_id"] for w in dry.would_write}
    assert {f"sms:{sid}", f"task:{sid}:follow_up"} <= ids
    assert dry.would_send == []
    m = world.ctx.mapping
    assert world.find(m.activity.object, m.activity.external_id_field, f"sms:{sid}") == []
    # nothing was kept: the real cycle still finds the reply to process
    real = run_cycle(world.ctx)
    assert real.ingest["processed"] == 1
    assert len(world.find(m.activity.object, m.activity.external_id_field, f"sms:{sid}")) == 1


def test_the_command_dry_run_prints_and_writes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """`smsync sync --once --dry-run --json` as an operator runs it."""
    sandbox.state.faults.clear()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    sandbox.emulators["salesforce"].seed(generate(20, seed=5))
    env = {
        **os.environ,
        **sandbox.env(),
        "SMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SMSYNC_MAPPINGS": str(ROOT / "mappings" / "salesforce.yaml"),
        "SMSYNC_LOG_LEVEL": "warning",
    }
    written = sandbox.state.stats.records_written("salesforce")
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "smsync"), "sync", "--once", "--dry-run", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["dry_run"] is True
    assert report["pull"]["contacts"] == 20
    assert report["would_send"] == []
    assert sandbox.state.stats.records_written("salesforce") == written


@pytest.mark.parametrize("world", ["salesforce"], indirect=True)
def test_one_correlation_id_runs_from_webhook_to_crm_write(world: World) -> None:
    """Issue 9: logs are structured, with the MessageSid as correlation id from the signed
    webhook, through ingest, to the CRM write acknowledged for it."""
    import structlog
    from structlog.testing import capture_logs

    from connector import logs

    run_cycle(world.ctx)
    people, _ = _pick(_people(world.ctx))
    assert people[0].phone
    logs.configure("debug")
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
            sid = world.inbound(people[0].phone, "Yes, interested")
            run_cycle(world.ctx)
    finally:
        structlog.reset_defaults()
        logs.configure_default()
    by_event = defaultdict(list)
    for e in events:
        if e.get("correlation_id") == sid:
            by_event[e["event"]].append(e)
    assert by_event["webhook.accepted"], [e["event"] for e in events]
    assert by_event["ingest.processed"][0]["crm_writes"] >= 1
    written = {e["external_id"] for e in by_event["writeback.written"]}
    assert f"sms:{sid}" in written
    assert all(people[0].phone not in json.dumps(e, default=str) for e in events)


def test_a_permanent_delivery_failure_marks_the_number_invalid(world: World) -> None:
    """Issue 7: a delivery outcome that says the number can never work (30003 unreachable)
    updates the activity's status and marks the number invalid on every record holding it."""
    from connector.domain.model import Direction
    from connector.ports import OutboundSms
    from connector.store import messages

    run_cycle(world.ctx)
    people, _ = _pick(_people(world.ctx))
    target = people[0]
    assert target.phone
    admin = f"{world.sandbox.urls['admin']}/__sandbox/twilio"
    r = requests.post(
        f"{admin}/numbers",
        json={
            "number": target.phone,
            "kind": "unreachable",
            "status": "undelivered",
            "error_code": 30003,
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert world.ctx.sms is not None
    sent = world.ctx.sms.send(OutboundSms(target.phone, "Hi, quick question", "manual:test:1"))
    with world.ctx.store.begin() as conn:  # what the send step records for each text
        messages.upsert(conn, sent, world.ctx.clock.now(), contact=target.ref)
    assert sent.direction is Direction.OUTBOUND
    r = requests.post(f"{admin}/tick", json={"advance_s": 30, "wait": True}, timeout=60)
    assert r.status_code == 200, r.text
    run_cycle(world.ctx)
    m = world.ctx.mapping
    field = m.field_map(target.ref.object_type).phone_status
    assert field is not None
    assert world.record(target.ref.object_type, target.ref.id)[field] == "invalid"
    activity = world.find(m.activity.object, m.activity.external_id_field, f"sms:{sent.sid}")
    assert len(activity) == 1
