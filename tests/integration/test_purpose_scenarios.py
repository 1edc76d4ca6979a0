"""Consent by purpose, end to end on both CRMs through the sandbox: replies typed on the
Twilio emulator's handset reach the real webhook app; the real engine (pull with the plays
planner, ingest, writeback, send) does the rest.

- revocation_scope all (the default): a natural-language reply to an informational
  reminder revokes every purpose; the marketing play is blocked, naming its purpose.
- revocation_scope purpose: the same reply revokes the reminder's purpose only; the CRM
  field (marketing) is left alone, the marketing play still goes, the reminder is
  blocked naming its purpose; a carrier STOP then revokes every purpose and shows in the
  CRM field.
- a person who sets the CRM's consent field to opted out is honoured at the next pull,
  for every purpose, on every record sharing the number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connector.config import Settings
from connector.domain.model import ConsentSource, ConsentStatus, ContactState
from connector.engine import send
from connector.engine.cycle import run_cycle
from connector.runtime.webhooks import build_webhook_app
from connector.sandbox.server import Sandbox
from connector.store import consent, contacts
from tests.cli_kit import smsync
from tests.integration.plays_kit import World, make_world
from tests.integration.test_optout_scenarios import _record, _share_number, _text
from tests.serve_kit import Served

NY = "America/New_York"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
CONFIRMATION = "Acme: you're unsubscribed and will get no more messages like these."
PLAYS = """\
version: 1
policy:
  revocation_scope: {scope}
  purposes: [renewals]
  consent: {{default: opt_out_only}}
  caps: {{per_day: 10, per_week: 20}}
  suppression: {{active_conversation: 1m}}
  opt_out_instruction: {{enabled: false}}
  keywords:
    opt_out_confirmation: {confirmation}
plays:
  - name: reminder
    owner_team: ae
    priority: 80
    purpose: informational
    outcome: {{disposition: confirmed}}
    trigger: {{meeting_booked: true}}
    template: {{text: "You're booked with us. Reply YES to confirm."}}
  - name: promo
    owner_team: marketing
    priority: 40
    purpose: marketing
    outcome: {{disposition: interested}}
    trigger: {{stage_entered: sql}}
    template: {{text: "Spring offer: 20% off this week."}}
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@contextmanager
def _world(vendor: str, scope: str, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    plays = tmp_path / "plays.yaml"
    text = PLAYS.format(scope=scope, confirmation=json.dumps(CONFIRMATION))
    plays.write_text(text, encoding="utf-8")
    start = MORNING - timedelta(hours=1)
    with make_world(vendor, sandbox, tmp_path, plays, seeded_at=start, start=MORNING) as w:
        hooks = Settings(TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=w.db)
        with Served(build_webhook_app(hooks, w.ctx.store, clock=sandbox.state.clock)) as served:
            r = requests.post(
                f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
                json={"base_url": served.url},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            yield w


def _explain(world: World, person: ContactState) -> list[dict[str, object]]:
    shown = smsync(
        "explain", "--contact", person.ref.id, "--json", env={"SMSYNC_DATABASE_URL": world.db}
    )
    assert shown.returncode == 0, shown.stderr
    found: list[dict[str, object]] = json.loads(shown.stdout)["decisions"]
    return found


def _blocks(world: World, person: ContactState, play: str) -> list[str]:
    """The details of the opted_out blocks of `play` for the person."""
    out = []
    for d in _explain(world, person):
        reasons = d["reasons"]
        assert isinstance(reasons, list)
        if d["play"] == play and d["verdict"] == "block" and reasons[0]["code"] == "opted_out":
            out.append(str(reasons[0]["detail"]))
    return out


def _triggers(world: World, person: ContactState) -> list[str]:
    """What the logged opt-out confirmations answer: the inbound verdict and its reach."""
    out = []
    for d in _explain(world, person):
        inputs = d["inputs"]
        assert isinstance(inputs, dict)
        if inputs["kind"] == "opt_out_confirmation" and inputs["trigger"]:
            out.append(str(inputs["trigger"]))
    return out


def _consent_field(world: World, person: ContactState) -> object:
    fmap = world.ctx.mapping.field_map(person.ref.object_type)
    return _record(world, person)[fmap.consent_status]


def _opted_out(world: World) -> object:
    return world.ctx.mapping.to_crm("consent_status", "opted_out")


def _booked_and_reminded(world: World) -> ContactState:
    person = world.person_only_in_new_york()
    world.edit(person, "time_zone", NY)
    world.pull()
    world.edit(person, "journey_state", "meeting_booked")
    world.pull()
    assert send.run(world.ctx).sent == 1
    [reminder] = world.texts_to(str(person.phone))
    assert reminder["body"].startswith("You're booked")
    return person


def _promo_and_rebook(world: World, person: ContactState) -> None:
    """Both plays fire again: the promo (marketing), the reminder (informational)."""
    world.edit(person, "journey_state", "engaged")
    world.pull()
    world.edit(person, "journey_state", "meeting_booked")
    world.edit(person, "lifecycle_stage", "sql")
    world.pull()


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_scope_all_a_reply_to_a_reminder_revokes_every_purpose(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    with _world(vendor, "all", sandbox, tmp_path) as world:
        person = _booked_and_reminded(world)
        world.at(MORNING + timedelta(minutes=1))
        _text(world, str(person.phone), "please stop texting me")
        run_cycle(world.ctx)
        assert send.run(world.ctx).sent == 1
        with world.ctx.store.begin() as conn:
            [entry] = consent.history(conn, str(person.phone))
        assert (entry.status, entry.purpose) == (ConsentStatus.OPTED_OUT, None)
        assert _consent_field(world, person) == _opted_out(world)

        world.at(MORNING + timedelta(minutes=3))
        _promo_and_rebook(world, person)
        send.run(world.ctx)
        texts = [t["body"] for t in world.texts_to(str(person.phone))]
        assert texts.count(CONFIRMATION) == 1
        assert len(texts) == 2  # the reminder, then the one confirmation; nothing after
        assert _blocks(world, person, "promo") == [
            "the number opted out of every purpose (the play's purpose: marketing)"
        ]
        assert _blocks(world, person, "reminder") == [
            "the number opted out of every purpose (the play's purpose: informational)"
        ]
        assert any(
            "revokes every purpose (revocation_scope all" in t for t in _triggers(world, person)
        )


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_scope_purpose_a_reply_revokes_the_plays_purpose_and_stop_revokes_all(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    with _world(vendor, "purpose", sandbox, tmp_path) as world:
        person = _booked_and_reminded(world)
        field_before = _consent_field(world, person)
        assert field_before != _opted_out(world)
        world.at(MORNING + timedelta(minutes=1))
        _text(world, str(person.phone), "please stop texting me")
        run_cycle(world.ctx)
        assert send.run(world.ctx).sent == 1  # the one confirmation
        with world.ctx.store.begin() as conn:
            [entry] = consent.history(conn, str(person.phone))
        assert (entry.status, entry.purpose) == (ConsentStatus.OPTED_OUT, "informational")
        # the CRM field means marketing (or all): an informational opt-out leaves it
        assert _consent_field(world, person) == field_before
        assert any(
            "revokes informational (a reply to the play reminder" in t
            for t in _triggers(world, person)
        )

        world.at(MORNING + timedelta(minutes=3))
        _promo_and_rebook(world, person)
        assert send.run(world.ctx).sent == 1
        texts = [t["body"] for t in world.texts_to(str(person.phone))]
        assert texts[-1] == "Spring offer: 20% off this week."  # marketing still goes
        assert _blocks(world, person, "reminder") == [
            "the number opted out of informational, the play's purpose"
        ]

        # STOP is a carrier keyword: Twilio blocks every later text, so it revokes all
        world.at(MORNING + timedelta(minutes=5))
        _text(world, str(person.phone), "STOP")
        run_cycle(world.ctx)
        with world.ctx.store.begin() as conn:
            last = consent.history(conn, str(person.phone))[-1]
        assert (last.status, last.purpose) == (ConsentStatus.OPTED_OUT, None)
        assert _consent_field(world, person) == _opted_out(world)
        world.at(MORNING + timedelta(minutes=8))
        world.edit(person, "lifecycle_stage", "mql")
        world.pull()
        world.edit(person, "lifecycle_stage", "sql")
        world.pull()
        send.run(world.ctx)
        assert len(world.texts_to(str(person.phone))) == 3  # nothing after the STOP
        assert _blocks(world, person, "promo") == [
            "the number opted out of every purpose (the play's purpose: marketing)"
        ]


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_an_opt_out_a_person_records_in_the_crm_is_honoured_at_the_next_pull(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A rep took a call ("don't text me") and set the field; the number's other record
    follows, and no play of any purpose reaches it, even under revocation_scope: purpose."""
    with _world(vendor, "purpose", sandbox, tmp_path) as world:
        person, other = world.person_only_in_new_york(), world.person()
        world.edit(person, "time_zone", NY)
        world.pull()
        twin = _share_number(world, person, other)
        world.at(MORNING + timedelta(minutes=1))
        world.edit(person, "consent_status", "opted_out")
        world.pull()
        phone = str(person.phone)
        with world.ctx.store.begin() as conn:
            [entry] = consent.history(conn, phone)
        assert (entry.status, entry.source, entry.purpose) == (
            ConsentStatus.OPTED_OUT,
            ConsentSource.CRM,
            None,
        )
        run_cycle(world.ctx)  # writeback: the twin's field follows the ledger
        assert _consent_field(world, twin) == _opted_out(world)

        world.at(MORNING + timedelta(minutes=3))
        for state in (person, twin):
            world.edit(state, "journey_state", "meeting_booked")
            world.edit(state, "lifecycle_stage", "sql")
        world.pull()
        assert send.run(world.ctx).sent == 0
        assert world.texts_to(phone) == []  # no confirmation either: no text asked
        for state in (person, twin):
            assert _blocks(world, state, "promo") == [
                "the number opted out of every purpose (the play's purpose: marketing)"
            ]
            assert _blocks(world, state, "reminder") == [
                "the number opted out of every purpose (the play's purpose: informational)"
            ]


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_scope_purpose_a_reply_to_marketing_shows_in_the_crm_and_its_echo_stays_marketing(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The CRM field means marketing: a reply to the promo writes opted_out there; pulling
    that field back is smsync's own write, not a person's opt-out of every purpose, so the
    informational reminder still goes."""
    with _world(vendor, "purpose", sandbox, tmp_path) as world:
        person = world.person_only_in_new_york()
        world.edit(person, "time_zone", NY)
        world.edit(person, "lifecycle_stage", "sql")
        world.pull()
        assert send.run(world.ctx).sent == 1
        world.at(MORNING + timedelta(minutes=1))
        _text(world, str(person.phone), "lose my number")
        run_cycle(world.ctx)  # ingest, writeback of the field
        assert send.run(world.ctx).sent == 1  # the one confirmation
        with world.ctx.store.begin() as conn:
            [entry] = consent.history(conn, str(person.phone))
        assert (entry.status, entry.purpose) == (ConsentStatus.OPTED_OUT, "marketing")
        assert _consent_field(world, person) == _opted_out(world)

        world.at(MORNING + timedelta(minutes=3))
        world.pull()  # the field comes back: no new ledger entry
        world.edit(person, "journey_state", "meeting_booked")
        world.pull()
        assert send.run(world.ctx).sent == 1
        with world.ctx.store.begin() as conn:
            assert len(consent.history(conn, str(person.phone))) == 1
        texts = [t["body"] for t in world.texts_to(str(person.phone))]
        assert texts[0] == "Spring offer: 20% off this week."
        assert texts[1] == CONFIRMATION
        assert texts[2].startswith("You're booked")  # informational still goes
        assert len(texts) == 3
        # YES answers the reminder: `confirmed`, not a re-subscription to marketing
        world.at(MORNING + timedelta(minutes=5))
        _text(world, str(person.phone), "YES")
        run_cycle(world.ctx)
        with world.ctx.store.begin() as conn:
            assert len(consent.history(conn, str(person.phone))) == 1
            state = contacts.get(conn, person.ref)
        assert state is not None
        assert state.disposition == "confirmed"
