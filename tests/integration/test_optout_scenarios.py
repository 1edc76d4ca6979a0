"""Issue 14 acceptance on both CRMs through the sandbox: replies typed on the Twilio
emulator's handset reach the real webhook app over HTTP; the real engine (pull with the
plays planner, ingest, writeback, send) does the rest.

A natural-language, a Spanish and a misspelled opt-out, each from a number two records
share, each update consent for every record sharing the number, write the CRM consent
fields, block later plays and get exactly one confirmation (Twilio neither blocks nor
answers them: they are no Twilio keywords); HELP gets the configured answer; "YES" to the
meeting confirmation is `confirmed`; and where Twilio's built-in handling answered a
keyword itself, smsync does not answer twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from connector.config import Settings
from connector.domain.model import ConsentSource, ConsentStatus, ContactState, Verdict
from connector.engine import ingest, send
from connector.engine.cycle import run_cycle
from connector.engine.explain import explain
from connector.runtime.webhooks import build_webhook_app
from connector.sandbox.server import Sandbox
from connector.store import consent, contacts
from connector.store import tables as tb
from tests.cli_kit import smsync
from tests.integration.plays_kit import World, make_world
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]
NY = "America/New_York"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
HELP_TEXT = (
    "Acme: meeting reminders, up to 4 msgs/wk. Msg & data rates may apply."
    " Help: help@acme.example. Reply STOP to opt out."
)
CONFIRMATION = "Acme: you're unsubscribed and will get no more messages from us."
OPT_OUTS = {
    "please stop texting me": "revocation_phrase",
    "No me envíes más mensajes": "revocation_phrase",
    "STPO": "keyword_misspelled",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def plays(tmp_path: Path) -> Path:
    """The scenario plays with the keyword policy an admin would write."""
    scenario = (ROOT / "tests" / "data" / "plays" / "scenario.yaml").read_text(encoding="utf-8")
    keywords = (
        "policy:\n  keywords:\n"
        f"    help_text: {json.dumps(HELP_TEXT)}\n"
        f"    opt_out_confirmation: {json.dumps(CONFIRMATION)}\n"
    )
    path = tmp_path / "plays.yaml"
    path.write_text(scenario.replace("policy:\n", keywords, 1), encoding="utf-8")
    return path


@pytest.fixture(params=["salesforce", "hubspot"])
def world(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path, plays: Path
) -> Iterator[World]:
    start = MORNING - timedelta(hours=1)
    with make_world(request.param, sandbox, tmp_path, plays, seeded_at=start, start=MORNING) as w:
        hooks = Settings(TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=w.db)
        with Served(build_webhook_app(hooks, w.ctx.store, clock=sandbox.state.clock)) as served:
            r = requests.post(
                f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
                json={"base_url": served.url},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            yield w


def _admin(world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio{path}", json=body, timeout=30
    )
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _text(world: World, phone: str, body: str) -> str:
    """The person types `body` on their handset; the webhook reaches the app."""
    answer = _admin(world, "/inbound", {"from": phone, "body": body})
    assert any(d.get("status_code") == 200 for d in answer["deliveries"]), answer
    sid: str = answer["sid"]
    return sid


def _auto_replies(world: World, phone: str) -> list[dict[str, str]]:
    r = requests.get(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio/keywords", params={"to": phone}, timeout=10
    )
    replies: list[dict[str, str]] = r.json()["auto_replies"]
    return replies


def _record(world: World, state: ContactState) -> dict[str, Any]:
    vendor = world.vendor
    field = "Id" if vendor == "salesforce" else "hs_object_id"
    [found] = world.sandbox.emulators[vendor].find(state.ref.object_type, field, state.ref.id)
    return found.get("properties", found) if vendor == "hubspot" else found


def _share_number(world: World, owner: ContactState, other: ContactState) -> ContactState:
    """`other` takes `owner`'s number in the CRM (a Lead and a Contact of one person)."""
    assert owner.phone is not None
    fields = ("MobilePhone", "Phone") if world.vendor == "salesforce" else ("mobilephone", "phone")
    for field in fields:
        world.case.change_field(other.ref.object_type, other.ref.id, field, owner.phone)
    world.pull()
    with world.ctx.store.begin() as conn:
        shared = contacts.find_by_phone(conn, owner.phone)
    assert {s.ref for s in shared} == {owner.ref, other.ref}
    return next(s for s in shared if s.ref == other.ref)


def _decisions(world: World, crm_id: str) -> list[tuple[str | None, str, tuple[str, ...]]]:
    with world.ctx.store.begin() as conn:
        found = explain(conn, crm_id)
    return [(e.play, e.decision.verdict.value, e.decision.reasons) for e in found.entries]


def _rows(world: World, phone: str) -> list[tuple[str, str]]:
    t = tb.sms_outbox
    with world.ctx.store.begin() as conn:
        return [
            (r.idempotency_key, r.state)
            for r in conn.execute(sa.select(t).where(t.c.to_number == phone).order_by(t.c.id))
        ]


def test_natural_spanish_and_misspelled_opt_outs_end_to_end(world: World) -> None:
    people = [world.person() for _ in range(6)]
    for person in people:
        world.edit(person, "time_zone", NY)
    world.pull()
    natural, spanish, typo = people[:3]
    # each number is on two records: every opt-out reaches both
    pairs = zip(people[:3], people[3:], strict=True)
    twins = [_share_number(world, owner, other) for owner, other in pairs]
    bodies = dict(zip((natural.ref, spanish.ref, typo.ref), OPT_OUTS, strict=True))
    sids = {p.ref: _text(world, str(p.phone), bodies[p.ref]) for p in (natural, spanish, typo)}
    run_cycle(world.ctx)  # ingest: consent, the confirmations queued; writeback: CRM fields
    sent = send.run(world.ctx)
    assert sent.sent == 3, sent

    mapping = world.ctx.mapping
    for person in (natural, spanish, typo):
        phone = str(person.phone)
        with world.ctx.store.begin() as conn:
            entry = consent.latest(conn, phone)
        assert entry is not None
        assert (entry.status, entry.source) == (ConsentStatus.OPTED_OUT, ConsentSource.KEYWORD)
        assert entry.evidence_text == bodies[person.ref]
        assert entry.evidence_sid == sids[person.ref]
        # exactly one confirmation, smsync's: Twilio did not recognise these words
        [confirmation] = world.texts_to(phone)
        assert confirmation["body"] == CONFIRMATION
        assert _auto_replies(world, phone) == []
        assert _rows(world, phone) == [(f"opt_out_confirmation:{sids[person.ref]}", "sent")]
    # the consent fields on every record sharing the number, the twins included
    for state in (natural, spanish, typo, *twins):
        record = _record(world, state)
        fmap = mapping.field_map(state.ref.object_type)
        assert record[fmap.consent_status] == mapping.to_crm("consent_status", "opted_out")
        assert fmap.consent_source is not None
        assert record[fmap.consent_source] == mapping.to_crm("consent_source", "keyword")

    # later plays are blocked, and a second revocation gets no second confirmation
    world.at(MORNING + timedelta(minutes=2))
    for person in (natural, spanish, typo, *twins):
        world.edit(person, "journey_state", "meeting_booked")
    world.pull()
    _text(world, str(natural.phone), "I said STOP texting me!!")
    run_cycle(world.ctx)
    world.at(MORNING + timedelta(minutes=4))
    run_cycle(world.ctx)
    for person in (natural, spanish, typo, *twins):
        assert len(world.texts_to(str(person.phone))) == 1
        decided = _decisions(world, person.ref.id)
        assert ("meeting_confirmation", "block", ("opted_out",)) in decided
        assert ("meeting_confirmation_strict", "block", ("opted_out",)) in decided
    assert (None, "block", ("already_confirmed",)) in _decisions(world, natural.ref.id)

    # "please stop texting me" leaves its decision, with the rule, in `smsync explain`
    shown = smsync(
        "explain", "--contact", natural.ref.id, "--json", env={"SMSYNC_DATABASE_URL": world.db}
    )
    assert shown.returncode == 0, shown.stderr
    logged = json.loads(shown.stdout)["decisions"]
    [allowed] = [
        d
        for d in logged
        if d["inputs"]["kind"] == "opt_out_confirmation"
        and d["verdict"] == "allow"
        and d["play"] is None
    ][-1:]
    assert "revocation_phrase" in allowed["inputs"]["trigger"]
    assert sids[natural.ref] in allowed["inputs"]["trigger"]
    assert str(natural.phone) not in shown.stdout
    text = smsync("explain", "--contact", spanish.ref.id, env={"SMSYNC_DATABASE_URL": world.db})
    assert "answers opt_out by revocation_phrase: 'no me envies mas' (es)" in text.stdout


def test_help_gets_the_answer_and_yes_confirms_the_meeting(world: World) -> None:
    helped, booked = world.person_only_in_new_york(), world.person_only_in_new_york()
    for person in (helped, booked):
        world.edit(person, "time_zone", NY)
    world.pull()
    world.edit(booked, "journey_state", "meeting_booked")
    world.pull()
    assert send.run(world.ctx).sent == 2  # the two meeting confirmations ("Reply YES")
    assert all("Reply YES" in t["body"] for t in world.texts_to(str(booked.phone)))

    world.at(MORNING + timedelta(minutes=5))
    _text(world, str(helped.phone), "help please")  # no Twilio keyword: smsync answers
    yes = _text(world, str(booked.phone), "YES")  # Twilio flags it START (an opt-in word)
    report = ingest.run(world.ctx)
    assert report.auto_replies == 1
    assert send.run(world.ctx).sent == 1
    [answer] = world.texts_to(str(helped.phone))
    assert answer["body"] == HELP_TEXT
    assert _decisions(world, helped.ref.id)[:2] == [(None, "allow", ()), (None, "allow", ())]

    with world.ctx.store.begin() as conn:
        state = contacts.get(conn, booked.ref)
        assert consent.latest(conn, str(booked.phone)) is None  # YES changed no consent
    assert state is not None
    assert state.disposition == "confirmed"
    run_cycle(world.ctx)
    fmap = world.ctx.mapping.field_map(booked.ref.object_type)
    record = _record(world, booked)
    assert record[fmap.disposition] == world.ctx.mapping.to_crm("disposition", "confirmed")
    assert len(world.texts_to(str(booked.phone))) == 2  # no reply to a YES
    assert _auto_replies(world, str(booked.phone)) == []
    with world.ctx.store.begin() as conn:
        activity = conn.execute(
            sa.select(tb.crm_outbox.c.fields).where(tb.crm_outbox.c.external_id == f"sms:{yes}")
        ).scalar_one()
    assert activity["disposition"] == "confirmed"


def test_a_keyword_twilio_answered_is_not_answered_twice(world: World) -> None:
    """Twilio's default handling answers one-word STOP and HELP itself and blocks the STOP;
    with it switched off (answered_by: smsync on an account without it) smsync does."""
    stop, helped, off = world.person(), world.person(), world.person()
    for person in (stop, helped, off):
        world.edit(person, "time_zone", NY)
    world.pull()
    _text(world, str(stop.phone), "STOP")
    _text(world, str(helped.phone), "HELP")
    _admin(world, "/keywords", {"builtin": False})
    _text(world, str(off.phone), "STOP")
    run_cycle(world.ctx)
    send.run(world.ctx)

    assert world.texts_to(str(stop.phone)) == []  # Twilio confirmed it, once
    [twilios] = _auto_replies(world, str(stop.phone))
    assert twilios["keyword"] == "STOP"
    assert "will not receive any more messages" in twilios["body"]
    assert _decisions(world, stop.ref.id)[0] == (None, "block", ("provider_answered",))
    assert world.texts_to(str(helped.phone)) == []
    assert [r["keyword"] for r in _auto_replies(world, str(helped.phone))] == ["HELP"]
    assert _decisions(world, helped.ref.id)[0] == (None, "block", ("provider_answered",))
    # without Twilio's handling: smsync's one confirmation, and smsync's block after it
    [mine] = world.texts_to(str(off.phone))
    assert mine["body"] == CONFIRMATION
    assert _auto_replies(world, str(off.phone)) == []
    world.edit(off, "journey_state", "meeting_booked")
    world.pull()
    assert send.run(world.ctx).sent == 0
    assert len(world.texts_to(str(off.phone))) == 1
    assert any(
        v == Verdict.BLOCK.value and r == ("opted_out",)
        for _, v, r in _decisions(world, off.ref.id)
    )
