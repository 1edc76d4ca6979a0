"""#20 parts 3 and 4 end to end on both CRMs through the sandbox: a Spanish-speaking
person (the mapped `language` segment, set in the CRM) gets the play's Spanish text in
their variant, and HELP and the STOP confirmation in Spanish through the real webhook; a
person with no language gets the English fallback; the decision log and `explain` name
the variant the text was sent in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connector.domain.model import ContactState
from connector.domain.variants import assign
from connector.engine import send
from connector.engine.cycle import run_cycle
from connector.engine.explain import explain
from connector.sandbox.server import Sandbox
from tests.integration.plays_kit import World, make_world, webhooks_served

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "language_variants.yaml"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 in New York
SPANISH = {
    "plain": "Bienvenido a nuestro programa de salud.",
    "ask": "¡Bienvenido! ¿Qué te trajo",
}
ENGLISH = {"plain": "Welcome to our healthcare program.", "ask": "Welcome! What brought you"}


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


def _segment(world: World, person: ContactState, segment: str, value: str) -> None:
    crm_field = world.ctx.mapping.field_map(person.ref.object_type).segments[segment]
    world.case.change_field(person.ref.object_type, person.ref.id, crm_field, value)


def _inbound(world: World, phone: str, body: str) -> None:
    r = requests.post(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio/inbound",
        json={"from": phone, "body": body},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def _industry(person: ContactState) -> str:
    return "Finance" if person.segments.get("industry") == "Healthcare" else "Healthcare"


def test_spanish_and_fallback_texts_in_their_variant_and_spanish_help_and_stop(
    world: World,
) -> None:
    play = world.ctx.planner.policy.plays["healthcare_welcome"]  # type: ignore[union-attr]
    spanish = world.person_only_in_new_york()
    english = world.person_only_in_new_york()
    assert spanish.phone is not None
    assert english.phone is not None
    # both start outside Healthcare, one speaks Spanish (set in the CRM by an admin)
    for person in (spanish, english):
        if person.segments.get("industry") == "Healthcare":
            _segment(world, person, "industry", "Finance")
    _segment(world, spanish, "language", "es")
    world.pull()
    for person in (spanish, english):
        _segment(world, person, "industry", "Healthcare")
    world.pull()
    assert send.run(world.ctx).sent == 2

    for person, texts in ((spanish, SPANISH), (english, ENGLISH)):
        arm = assign(str(person.ref), play)
        assert arm is not None
        assert person.phone is not None
        [text] = world.texts_to(person.phone)
        assert text["body"].startswith(texts[arm.variant]), text["body"]
        with world.ctx.store.begin() as conn:
            shown = explain(conn, person.ref.id)
        decisions = shown.as_json()["decisions"]
        assert isinstance(decisions, list)
        assert {d["variant"] for d in decisions if d["play"] == play.name} == {arm.variant}
        assert any(f"variant {arm.variant}" in line for line in shown.lines())
        language = "es" if person is spanish else "en"
        assert any(f"template language {language}" in line for line in shown.lines())

    # HELP and STOP from the Spanish speaker: answered by smsync (the account's built-in
    # keyword answers are off, as with Advanced Opt-Out not answering) in Spanish
    r = requests.post(
        f"{world.sandbox.urls['admin']}/__sandbox/twilio/keywords",
        json={"builtin": False},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    world.at(MORNING + timedelta(minutes=10))
    _inbound(world, spanish.phone, "AYUDA")
    run_cycle(world.ctx)
    send.run(world.ctx)
    _inbound(world, spanish.phone, "ALTO")
    run_cycle(world.ctx)
    send.run(world.ctx)
    bodies = [t["body"] for t in world.texts_to(spanish.phone)]
    assert any(b.startswith("Acme: novedades") for b in bodies), bodies
    assert any("no recibirás más mensajes" in b for b in bodies), bodies
    # the English speaker's HELP stays English
    _inbound(world, english.phone, "HELP")
    run_cycle(world.ctx)
    send.run(world.ctx)
    english_bodies = [t["body"] for t in world.texts_to(english.phone)]
    assert any(b.startswith("Acme: account news") for b in english_bodies), english_bodies
