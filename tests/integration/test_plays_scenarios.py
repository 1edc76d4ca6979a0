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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.config import load_settings
from connector.domain.governance import number_facts
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    SlaKind,
    Verdict,
)
from connector.engine import pull, send
from connector.engine.consent_sync import record_event
from connector.engine.context import EngineContext, build_context
from connector.engine.explain import explain
from connector.engine.manual import manual_send
from connector.engine.plan import PlaysPlanner
from connector.mapping_loader import load_mapping
from connector.plays_loader import load_plays, to_policy
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import contacts, sla, sms_outbox
from connector.store import tables as tb
from connector.store.migrate import upgrade
from connector.store.records import SmsOutboxRow
from tests.contract.adapters import build_case

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


@dataclass
class World:
    vendor: str
    sandbox: Sandbox
    ctx: EngineContext
    db: str
    case: Any
    used: set[str] = field(default_factory=set)

    def at(self, when: datetime) -> None:
        """Move the sandbox clock (which is also the engine's) to `when`."""
        self.sandbox.state.clock.set(when)
        self.case._sf_session = None  # an admin's UI session would have expired too

    def edit(self, state: ContactState, canonical: str, value: str) -> None:
        mapping = self.ctx.mapping
        crm_field = getattr(mapping.field_map(state.ref.object_type), canonical)
        crm_value = mapping.to_crm(canonical, value) if canonical != "time_zone" else value
        self.case.change_field(state.ref.object_type, state.ref.id, crm_field, crm_value)

    def pull(self) -> None:
        self.sandbox.state.clock.advance(1)
        pull.run(self.ctx)

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return self.sandbox.emulators["twilio"].find("Messages", "to", phone)

    def rows(self, ref: str) -> list[SmsOutboxRow]:
        t = tb.sms_outbox
        with self.ctx.store.begin() as conn:
            ids = conn.execute(
                sa.select(t.c.id).where(t.c.contact_id == ref).order_by(t.c.id)
            ).scalars()
            return [r for i in ids if (r := sms_outbox.get(conn, i)) is not None]

    def person(self) -> ContactState:
        """A textable person the plays can reach, in New York time, not yet at `sql`."""
        t = tb.contact_state
        with self.ctx.store.begin() as conn:
            refs = conn.execute(sa.select(t.c.crm_object_type, t.c.crm_id).order_by(t.c.id))
            people = [contacts.get(conn, _ref(o, i)) for o, i in refs]
        for state in people:
            if (
                state is not None
                and state.phone
                and state.ref.object_type in ("Contact", "contacts")
                and state.consent is not ConsentStatus.OPTED_OUT
                and state.lifecycle_stage != "sql"
                and state.journey_state != "meeting_booked"
                and number_facts(state.phone).valid
                and not number_facts(state.phone).landline
                and not self._used(state.phone)
            ):
                self.used.add(state.phone)
                return state
        raise AssertionError("no textable person in the seed")

    def _used(self, phone: str) -> bool:
        return phone in self.used


def _ref(object_type: str, crm_id: str) -> Any:
    from connector.domain.model import CrmRef

    return CrmRef(object_type, crm_id)


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    vendor: str = request.param
    sandbox.state.clock.set(MORNING - timedelta(hours=1))  # seeded before the story starts
    sandbox.state.faults.clear()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    seed = generate(40, seed=8)
    sandbox.emulators[vendor].seed(seed)
    sandbox.emulators["twilio"].seed(seed)
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(db)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in sandbox.env().items():
            mp.setenv(key, value)
        mp.setenv("SMSYNC_CRM", vendor)
        mp.setenv("SMSYNC_DATABASE_URL", db)
        settings = load_settings()
    mapping = load_mapping(ROOT / "mappings" / f"{vendor}.yaml")
    planner = PlaysPlanner(to_policy(load_plays(PLAYS, mapping)))
    ctx = build_context(settings, clock=sandbox.state.clock, planner=planner, mapping=mapping)
    case = build_case(vendor, sandbox, seed)
    world = World(vendor, sandbox, ctx, db, case)
    pull.run(ctx)  # the first pull: records seen for the first time emit no signals
    sandbox.state.clock.set(MORNING)
    try:
        yield world
    finally:
        ctx.store.close()
        sandbox.state.clock.set(datetime.now(UTC))


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
    assert "quiet_hours: outside the quiet-hours window" in shown.stdout
    assert "meeting_confirmation_strict" in shown.stdout
    assert "defer" in shown.stdout
    assert "block" in shown.stdout


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
