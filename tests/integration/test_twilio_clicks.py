"""Issue 20 part 1, the provider's way (`SMSYNC_LINK_TRACKING=twilio`), on both CRMs over
real HTTP: the speed_to_lead text goes through the Messaging Service with
`ShortenUrls=true` carrying the declared destination (with UTM), the sandbox's Twilio
swaps it for a short link, the handset opens it and Twilio posts its signed click event to
`POST /webhooks/twilio/click`: one activity and (high intent) one owned task; the same
event replayed adds nothing; a forged one is 403 and an unknown message is ignored, both
changing nothing; a previewer's click is recorded and never counted."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.domain.model import ContactState
from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness
from connector.runtime.webhooks import build_webhook_app, webhook_routes
from connector.sandbox.server import Sandbox
from connector.sandbox.twilio.emulator import TwilioEmulator
from connector.sms.twilio.signature import compute, sign_json
from tests.integration.plays_kit import World, make_world
from tests.integration.test_clicks import (
    BROWSER,
    DESTINATION,
    MORNING,
    PLAYS,
    PREVIEWERS,
    clicks_table,
    crm_rows,
    speed_to_lead_text,
    to_crm,
)
from tests.serve_kit import Served

SHORT = re.compile(r"https://sms\.acme\.test/([A-Za-z0-9]{10})\b")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    seeded = MORNING - timedelta(hours=1)
    service = sandbox.credentials.twilio_messaging_service_sid
    with make_world(
        request.param,
        sandbox,
        tmp_path,
        PLAYS,
        seeded_at=seeded,
        start=MORNING,
        SMSYNC_LINK_TRACKING="twilio",
        TWILIO_MESSAGING_SERVICE_SID=service,
    ) as w:
        yield w


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The sidecar's webhook app; the sandbox's Link Shortening domain posts clicks to it."""
    settings = world.ctx.settings.model_copy(update={"public_base_url": None})
    app = build_webhook_app(settings, world.ctx.store, clock=world.sandbox.state.clock)
    with Served(app) as running:
        admin(world, "link-shortening", callback_url=f"{running.url}/webhooks/twilio/click")
        yield running.url


def admin(world: World, path: str, **body: Any) -> dict[str, Any]:
    with requests.Session() as http:
        http.trust_env = False
        url = f"{world.sandbox.urls['admin']}/__sandbox/twilio/{path}"
        answer = http.post(url, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def texted(world: World) -> tuple[ContactState, str, str]:
    """A person speed_to_lead texts through Link Shortening: the person, the short link
    in the text they got, and the text's sid."""
    person, text = speed_to_lead_text(world)
    found = SHORT.search(text["body"])
    assert found is not None, text["body"]
    assert "/l/" not in text["body"]
    assert "acme.example" not in text["body"]
    assert text["messaging_service_sid"] == world.sandbox.credentials.twilio_messaging_service_sid
    world.at(MORNING + timedelta(hours=2, minutes=5))  # read 2 minutes later
    return person, found.group(0), str(text["sid"])


def open_link(world: World, short: str, agent: str = BROWSER) -> dict[str, Any]:
    return admin(world, "open-link", url=short, user_agent=agent)


def test_a_twilio_click_writes_one_activity_and_one_task(world: World, served: str) -> None:
    person, short, sid = texted(world)
    opened = open_link(world, short)
    first_event = last_event(world)
    assert opened["location"] == DESTINATION  # Twilio shortened the destination, UTM kept
    assert opened["delivery"]["status_code"] == 200
    assert "bodySHA256=" in opened["delivery"]["url"]
    assert to_crm(world) == 1

    activity, tasks = world.ctx.mapping.activity, world.ctx.mapping.tasks
    key = f"click:{sid}:pricing"
    [logged] = crm_rows(world, activity.object, activity.external_id_field, key)
    said = str(logged.get("Subject") or logged.get("hs_communication_body"))
    assert "Clicked pricing link from play speed_to_lead" in said
    [task] = crm_rows(world, tasks.object, tasks.external_id_field, f"task:{key}:follow_up")
    assert (task.get("OwnerId") or task.get("hubspot_owner_id")) == person.owner_id

    # a second open, and the same signed event replayed byte for byte, add nothing
    assert open_link(world, short)["delivery"]["status_code"] == 200
    replay = replayed(world, opened["delivery"]["url"], first_event, sid)
    assert replay.status_code == 200
    assert to_crm(world) == 0
    assert len(crm_rows(world, activity.object, activity.external_id_field, key)) == 1
    assert len(crm_rows(world, tasks.object, tasks.external_id_field, f"task:{key}:follow_up")) == 1
    assert clicks_table(world) == [("counted", True)]


def event(sid: str, link: str = DESTINATION, agent: str = BROWSER) -> bytes:
    body = {
        "event_type": "click",
        "sms_sid": sid,
        "to": "+15005550006",
        "from": "+15005550001",
        "link": link,
        "click_time": "2026-03-03T17:05:00.000Z",
        "messaging_service_sid": "MG" + "0" * 32,
        "account_sid": "AC" + "0" * 32,
        "user_agent": agent,
    }
    return json.dumps(body).encode()


def post(url: str, body: bytes, signature: str) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
        return http.post(url, data=body, headers=headers, timeout=10)


def last_event(world: World) -> bytes:
    emulator = world.sandbox.emulators["twilio"]
    assert isinstance(emulator, TwilioEmulator)
    return emulator.shortener.last_body


def replayed(world: World, signed_url: str, body: bytes, sid: str) -> requests.Response:
    """A click event the sandbox posted, sent again with its own signature."""
    assert json.loads(body)["sms_sid"] == sid
    token = world.sandbox.credentials.twilio_auth_token
    return post(signed_url, body, compute(token, signed_url, ()))


def signed(world: World, served: str, body: bytes, token: str | None = None) -> tuple[str, str]:
    key = token or world.sandbox.credentials.twilio_auth_token
    return sign_json(key, f"{served}/webhooks/twilio/click", body)


def post_signed(world: World, served: str, body: bytes) -> requests.Response:
    url, signature = signed(world, served, body)
    return post(url, body, signature)


def test_forged_and_unknown_click_events_change_nothing(world: World, served: str) -> None:
    _person, _short, sid = texted(world)
    body = event(sid)
    url, good = signed(world, served, body)
    # signed with another token; the right signature over another body; none at all
    _url, wrong = signed(world, served, body, token="not-the-auth-token")
    assert post(url, body, wrong).status_code == 403
    assert post(url, event(sid, agent="other"), good).status_code == 403
    bare = f"{served}/webhooks/twilio/click?bodySHA256={hashlib.sha256(body).hexdigest()}"
    assert post(bare, body, "").status_code == 403
    # a message smsync never sent, and a link its text did not carry: 200, ignored
    assert post_signed(world, served, event("SM" + "f" * 32)).status_code == 200
    assert post_signed(world, served, event(sid, "https://evil.example/x")).status_code == 200
    assert to_crm(world) == 0
    assert clicks_table(world) == []
    # a signed body that is not a click event: 400 naming the field
    junk = json.dumps({"event_type": "click", "link": DESTINATION}).encode()
    answer = post_signed(world, served, junk)
    assert (answer.status_code, "sms_sid" in answer.text) == (400, True)
    assert clicks_table(world) == []
    # the real one still counts afterwards
    assert post(url, body, good).status_code == 200
    assert to_crm(world) == 1


def test_a_previewer_through_twilio_is_recorded_not_counted(world: World, served: str) -> None:
    _person, short, _sid = texted(world)
    assert open_link(world, short, PREVIEWERS["slack"])["delivery"]["status_code"] == 200
    assert to_crm(world) == 0
    assert clicks_table(world) == [("previewer", False)]


def test_an_oversized_click_body_is_refused_before_its_signature(world: World) -> None:
    """The sidecar's app bounds the body while it reads it (16 KiB here)."""
    settings = world.ctx.settings.model_copy(update={"public_base_url": None})
    routes = webhook_routes(settings, world.ctx.store, clock=world.sandbox.state.clock)
    with Served(build_app(Readiness({}), webhooks=routes)) as running:
        big = event("SM" + "a" * 32, agent="x" * 20_000)
        url, sig = signed(world, running.url, big)
        assert post(url, big, sig).status_code == 413
        small = event("SM" + "a" * 32)
        assert post_signed(world, running.url, small).status_code == 200
    assert clicks_table(world) == []
