"""Issue 8 acceptance 2 on both CRMs against the sandbox: CRM records are edited through
the vendor's own API with the sandbox clock set to a chosen local time; the engine's pull
step runs the real `PlaysPlanner`; the send step re-checks and sends through the sandbox's
Twilio; `smsync explain` (the real process) shows each reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    SlaKind,
    Verdict,
)
from connector.engine import send
from connector.engine.consent_sync import record_event
from connector.engine.explain import explain
from connector.engine.manual import manual_send
from connector.sandbox.server import Sandbox
from connector.store import sla
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "scenario.yaml"
NY = "America/New_York"
# Tuesday 3 March 2026 (EST, UTC-5): 10:00 and 22:00 in New York
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
LATE = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
NEXT_OPENING = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 in New York


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    start = MORNING - timedelta(hours=1)  # seeded before the story starts
    with make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING) as w:
        yield w


def smsync_explain(world: World, crm_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", "explain", "--contact", crm_id, *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, "SMSYNC_DATABASE_URL": world.db},
        timeout=120,
        check=False,
    )


def _codes(world: World, crm_id: str) -> list[tuple[str | None, str, tuple[str, ...]]]:
    with world.ctx.store.begin() as conn:
        found = explain(conn, crm_id)
    return [(e.play, e.decision.verdict.value, e.decision.reasons) for e in found.entries]


def test_stage_change_sends_speed_to_lead_within_its_window(world: World) -> None:
    person = world.person()
    assert person.phone is not None
    world.edit(person, "time_zone", NY)
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()

    [row] = world.rows(person.ref.id)
    assert row.play == "speed_to_lead"
    assert row.idempotency_key.startswith(f"play:speed_to_lead:{person.ref}:")
    assert MORNING + timedelta(minutes=2) <= row.send_at <= MORNING + timedelta(minutes=3)
    assert send.run(world.ctx).sent == 0  # the play's 2-minute delay holds it

    world.at(MORNING + timedelta(minutes=3))
    report = send.run(world.ctx)
    assert report.sent == 1, report
    [text] = world.texts_to(person.phone)
    assert "sql" in text["body"]
    [row] = world.rows(person.ref.id)
    assert row.state == "sent"
    assert row.provider_sid == text["sid"]
    with world.ctx.store.begin() as conn:
        activity = conn.execute(
            sa.select(tb.crm_outbox.c.kind).where(
                tb.crm_outbox.c.external_id == f"sms:{text['sid']}"
            )
        ).scalar_one()
    assert activity == "activity"
    assert _codes(world, person.ref.id) == [
        ("speed_to_lead", "allow", ()),  # the send-time re-check
        ("speed_to_lead", "defer", ("delay",)),
    ]


def test_meeting_at_22_local_is_deferred_to_08_or_dropped_per_play(world: World) -> None:
    person = world.person()
    assert person.phone is not None
    world.edit(person, "time_zone", NY)
    world.pull()
    world.at(LATE)
    world.edit(person, "journey_state", "meeting_booked")
    world.pull()

    [row] = world.rows(person.ref.id)  # the strict play dropped its text
    assert row.play == "meeting_confirmation"
    assert row.send_at == NEXT_OPENING
    decided = {play: (verdict, reasons) for play, verdict, reasons in _codes(world, person.ref.id)}
    assert decided == {
        "meeting_confirmation": ("defer", ("quiet_hours",)),
        "meeting_confirmation_strict": ("block", ("quiet_hours",)),
    }
    assert send.run(world.ctx).claimed == 0
    assert world.texts_to(person.phone) == []

    world.at(NEXT_OPENING + timedelta(seconds=5))  # the sweep-free release: it is due now
    assert send.run(world.ctx).sent == 1
    assert len(world.texts_to(person.phone)) == 1

    shown = smsync_explain(world, person.ref.id)
    assert shown.returncode == 0, shown.stderr
    # each reason: code, the recorded detail with the zone's provenance (every source that
    # named it: the CRM field, the area code, the mapped state), then the meaning
    closed = (
        "quiet_hours: outside America/New_York 08:00-21:00 from crm_field, area_code, state"
        " (it is 22:00 there)"
    )
    deferred = (
        f"{closed}; deferred to {NEXT_OPENING.isoformat(timespec='minutes')} "
        "(outside the quiet-hours window in the recipient's local time)"
    )
    assert deferred in shown.stdout, shown.stdout
    assert f"{closed}; dropped (" in shown.stdout
    inputs = [line for line in shown.stdout.splitlines() if line.startswith("    inputs: ")]
    assert len(inputs) == 3  # the deferral, the drop, and the send-time re-check
    assert all(
        x.startswith("    inputs: zone America/New_York (from crm_field, area_code, state);")
        for x in inputs
    )
    assert "meeting_confirmation_strict" in shown.stdout
    assert "defer" in shown.stdout
    assert "block" in shown.stdout
    assert person.phone not in shown.stdout

    as_json = smsync_explain(world, person.ref.id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert person.phone not in as_json.stdout
    logged = json.loads(as_json.stdout)["decisions"]
    [planned] = [d for d in logged if d["verdict"] == "defer"]
    assert planned["play"] == "meeting_confirmation"
    [quiet] = planned["reasons"]
    assert quiet["code"] == "quiet_hours"
    assert quiet["detail"].endswith(
        f"(it is 22:00 there); deferred to {NEXT_OPENING.isoformat(timespec='minutes')}"
    )
    assert quiet["meaning"] == "outside the quiet-hours window in the recipient's local time"
    assert planned["inputs"]["zones"] == [NY]
    assert planned["inputs"]["zone_source"] == "crm_field"
    assert planned["inputs"]["kind"] == "play"
    [strict] = [d for d in logged if d["verdict"] == "block"]
    assert strict["reasons"][0]["detail"].endswith("(it is 22:00 there); dropped")
    assert strict["inputs"]["zone_source"] == "crm_field"
    with world.ctx.store.begin() as conn:  # nor in what the log keeps
        raw = conn.execute(sa.select(tb.decision_log.c.details)).scalars().all()
    assert len(raw) == len(logged)
    assert all(d is not None for d in raw)
    assert person.phone not in json.dumps(raw)


def test_an_open_task_suppresses_the_play(world: World) -> None:
    person = world.person()
    with world.ctx.store.begin() as conn:  # a reply is waiting on its owner's follow-up
        sla.start(
            conn,
            person.ref,
            SlaKind.FIRST_RESPONSE,
            started=MORNING,
            due=MORNING + timedelta(hours=4),
            source_sid="SMreply",
        )
    world.edit(person, "time_zone", NY)
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()

    assert world.rows(person.ref.id) == []
    assert _codes(world, person.ref.id) == [("speed_to_lead", "block", ("open_task",))]


def test_stop_blocks_every_later_play_and_manual_send(world: World) -> None:
    person = world.person()
    phone = person.phone
    assert phone is not None
    world.edit(person, "time_zone", NY)
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()
    [queued] = world.rows(person.ref.id)  # queued before the STOP arrives
    with world.ctx.store.begin() as conn:
        stop = ConsentRecord(
            phone,
            ConsentStatus.OPTED_OUT,
            ConsentScope.MESSAGING_SERVICE,
            ConsentSource.KEYWORD,
            MORNING + timedelta(seconds=30),
            evidence_sid="SMstop",
            evidence_text="STOP",
        )
        record_event(conn, stop, MORNING + timedelta(seconds=30))

    world.at(MORNING + timedelta(minutes=3))
    report = send.run(world.ctx)  # the chokepoint re-checks before the provider
    assert (report.sent, report.blocked) == (0, 1)
    world.edit(person, "journey_state", "meeting_booked")  # a later play
    world.pull()
    manual = manual_send(
        world.ctx.store,
        world.ctx.sms,
        world.ctx.clock,
        send.policy_of(world.ctx),
        contact_id=person.ref.id,
        play="meeting_confirmation",
        body="Hi, this is your rep.",
    )

    assert manual.verdict is Verdict.BLOCK
    assert [r.code for r in manual.reasons] == ["opted_out"]
    assert world.texts_to(phone) == []
    rows = world.rows(person.ref.id)
    assert [r.id for r in rows] == [queued.id]
    assert rows[0].state == "failed"
    entries = _codes(world, person.ref.id)
    assert entries[0] == ("meeting_confirmation", "block", ("opted_out",))  # the manual send
    assert set(entries[1:3]) == {
        ("meeting_confirmation", "block", ("opted_out",)),
        ("meeting_confirmation_strict", "block", ("opted_out",)),
    }
    assert entries[3] == ("speed_to_lead", "block", ("opted_out",))

    shown = smsync_explain(world, person.ref.id, "--json")
    assert shown.returncode == 0, shown.stderr
    decisions = json.loads(shown.stdout)["decisions"]
    assert [d["reasons"][0]["code"] for d in decisions[:4]] == ["opted_out"] * 4
    assert phone not in shown.stdout  # masked


def test_provider_block_enters_the_consent_ledger(world: World) -> None:
    person = world.person()
    phone = person.phone
    assert phone is not None
    twilio = world.sandbox.emulators["twilio"]
    twilio.optouts.add((twilio.sender_scope(twilio.default_from), phone))  # type: ignore[attr-defined]
    world.edit(person, "time_zone", NY)
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()
    world.at(MORNING + timedelta(minutes=3))

    report = send.run(world.ctx)

    assert (report.sent, report.blocked) == (0, 1)
    [row] = world.rows(person.ref.id)
    assert row.state == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("provider_opt_out")
    from connector.store import consent

    with world.ctx.store.begin() as conn:
        entry = consent.latest(conn, phone)
    assert entry is not None
    assert (entry.status, entry.source) == (ConsentStatus.OPTED_OUT, ConsentSource.PROVIDER_BLOCK)
    assert _codes(world, person.ref.id)[0] == ("speed_to_lead", "block", ("provider_opt_out",))


def test_a_named_web_form_starts_its_play_and_another_form_does_not(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Salesforce, where the form fields are the org's own (HubSpot sets its
    recent-conversion properties only from real form submissions)."""
    start = MORNING - timedelta(hours=1)
    with make_world("salesforce", sandbox, tmp_path, PLAYS, seeded_at=start, start=MORNING) as w:
        person = w.person()
        fields = w.ctx.mapping.field_map(person.ref.object_type).segments
        obj, crm_id = person.ref.object_type, person.ref.id
        w.case.change_field(obj, crm_id, fields["form_name"], "newsletter")
        w.case.change_field(obj, crm_id, fields["form_submitted_at"], "2026-03-03T14:58:00Z")
        w.pull()
        assert w.rows(crm_id) == []

        w.case.change_field(obj, crm_id, fields["form_name"], "demo-request")
        w.case.change_field(obj, crm_id, fields["form_submitted_at"], "2026-03-03T14:59:30Z")
        w.pull()
        [row] = w.rows(crm_id)
        assert row.play == "demo_request_follow_up"
        first = person.segments["first_name"]
        # the program's first text to the number carries the opt-out instruction
        assert row.body == (
            f"Thanks for asking for a demo, {first}! Reply with a good time. Reply STOP to opt out."
        )
        w.pull()  # nothing changed: nothing more
        assert len(w.rows(crm_id)) == 1


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_a_higher_priority_play_takes_a_queued_texts_place_under_the_daily_cap(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    plays = ROOT / "tests" / "data" / "plays" / "preempt.yaml"
    start = MORNING - timedelta(hours=1)
    with make_world(vendor, sandbox, tmp_path, plays, seeded_at=start, start=MORNING) as w:
        person = w.person()
        w.edit(person, "time_zone", NY)
        w.edit(person, "lifecycle_stage", "sql")
        w.pull()
        [nurture] = w.rows(person.ref.id)
        assert (nurture.play, nurture.state) == ("nurture", "pending")
        assert (
            MORNING + timedelta(hours=3)
            <= nurture.send_at
            <= MORNING + timedelta(hours=3, seconds=5)
        )

        w.edit(person, "journey_state", "meeting_booked")
        w.pull()
        rows = {r.play: r for r in w.rows(person.ref.id)}
        assert rows["nurture"].state == "failed"
        assert rows["nurture"].last_error == "preempted: by meeting_confirmation (priority 90)"
        assert send.run(w.ctx).sent == 1
        assert person.phone is not None
        [text] = w.texts_to(person.phone)
        # the queued nurture never went, so this is the first text: it tells how to opt out
        assert text["body"] == "You're booked with us. Reply YES to confirm. Reply STOP to opt out."

        codes = _codes(w, person.ref.id)
        assert ("nurture", "block", ("preempted",)) in codes
        assert ("meeting_confirmation", "allow", ("preempts",)) in codes
