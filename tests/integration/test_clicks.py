"""Issue 20 parts 1 and 2 on both CRMs, through the sidecar's real HTTP endpoint: the
shipped speed_to_lead text carries its own short pricing URL; a person's click redirects
to the declared destination with the play's UTM parameters, writes one activity and (the
link is high intent) one owned follow-up task, and a second click or a replay adds
nothing; unknown, forged and expired tokens answer a bare 404 and change nothing; link
previewers and a click within a second of delivery are recorded but never counted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from connector.domain.holdout import assign
from connector.domain.model import ConsentStatus, ContactState
from connector.engine import ingest, send
from connector.engine.writeback import Writeback
from connector.runtime.links import build_link_app
from connector.sandbox.server import Sandbox
from connector.store import links
from connector.store import tables as tb
from tests.integration.plays_kit import World, make_world
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"
MORNING = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PREVIEWERS = {
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "twitter": "Twitterbot/1.0",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "telegram": "TelegramBot (like TwitterBot)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "apple": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like"
    " Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "applebot": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML,"
    " like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "skype": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "none": "",
}
DESTINATION = (
    "https://acme.example/pricing?utm_source=sms&utm_medium=smsync&utm_campaign=speed_to_lead"
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Iterator[World]:
    seeded = MORNING - timedelta(hours=1)
    with make_world(request.param, sandbox, tmp_path, PLAYS, seeded_at=seeded, start=MORNING) as w:
        yield w


@pytest.fixture
def served(world: World) -> Iterator[str]:
    app = build_link_app(world.ctx.store, clock=world.sandbox.state.clock)
    with Served(app) as running:
        yield running.url


def speed_to_lead_text(world: World) -> tuple[ContactState, dict[str, Any]]:
    """A person (opted in, not held out, in New York) whom speed_to_lead texts at 12:03,
    and the text the handset got."""
    plays = world.ctx.planner.policy.plays  # type: ignore[union-attr]
    while True:
        person = world.person_only_in_new_york()
        held = assign(str(person.ref), "speed_to_lead", plays["speed_to_lead"].holdout_percent)
        if person.consent is ConsentStatus.OPTED_IN and not held.held_out:
            break
    world.edit(person, "time_zone", "America/New_York")
    world.at(MORNING + timedelta(hours=2))
    world.edit(person, "lifecycle_stage", "mql")
    world.pull()
    world.at(MORNING + timedelta(hours=2, minutes=3))
    assert send.run(world.ctx).sent == 1
    assert person.phone is not None
    [text] = world.texts_to(person.phone)
    return person, text


def texted(world: World) -> tuple[ContactState, str]:
    """A person speed_to_lead texts, and the token of the pricing link in their text."""
    person, text = speed_to_lead_text(world)
    found = re.search(r"/l/([A-Za-z0-9_-]{22}) ", text["body"])
    assert found is not None, text["body"]
    assert person.phone not in text["body"]
    assert person.ref.id not in found.group(0)
    world.at(MORNING + timedelta(hours=2, minutes=5))  # the person reads it 2 minutes later
    return person, found.group(1)


def click(url: str, token: str, agent: str = BROWSER) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        return http.get(
            f"{url}/l/{token}", headers={"User-Agent": agent}, allow_redirects=False, timeout=10
        )


def crm_rows(world: World, obj: str, field: str, value: str) -> list[dict[str, Any]]:
    found = world.sandbox.emulators[world.vendor].find(obj, field, value)
    return [dict(r.get("properties", r)) if world.vendor == "hubspot" else dict(r) for r in found]


def to_crm(world: World) -> int:
    report = ingest.run(world.ctx)
    Writeback(world.ctx.store, world.ctx.crm, world.ctx.clock, world.vendor, "t").drain()
    return report.clicks


def clicks_table(world: World) -> list[tuple[str, bool]]:
    t = tb.link_clicks
    with world.ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.c.flag, t.c.processed_at).order_by(t.c.id))
        return [(r.flag, r.processed_at is not None) for r in rows]


def test_a_click_redirects_and_writes_one_activity_and_one_task(world: World, served: str) -> None:
    person, token = texted(world)
    answer = click(served, token)
    assert answer.status_code == 302
    assert answer.headers["location"] == DESTINATION
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert to_crm(world) == 1

    activity, tasks = world.ctx.mapping.activity, world.ctx.mapping.tasks
    [sid] = [m["sid"] for m in world.texts_to(str(person.phone))]
    key = f"click:{sid}:pricing"
    [logged] = crm_rows(world, activity.object, activity.external_id_field, key)
    said = str(logged.get("Subject") or logged.get("hs_communication_body"))
    assert "Clicked pricing link from play speed_to_lead" in said
    [task] = crm_rows(world, tasks.object, tasks.external_id_field, f"task:{key}:follow_up")
    body = str(task.get("Description") or task.get("hs_task_body"))
    assert "clicked a link in our text" in body
    assert "speed_to_lead" in body
    assert "They opened the pricing page" in body  # the link's talk track
    assert "Pricing: http" in body  # the conversation shows the text that carried the link
    owner = task.get("OwnerId") or task.get("hubspot_owner_id")
    assert owner == person.owner_id

    # a second click, and the same request replayed, add nothing anywhere
    assert click(served, token).status_code == 302
    assert click(served, token).headers["location"] == DESTINATION
    assert to_crm(world) == 0
    assert len(crm_rows(world, activity.object, activity.external_id_field, key)) == 1
    assert len(crm_rows(world, tasks.object, tasks.external_id_field, f"task:{key}:follow_up")) == 1
    assert clicks_table(world) == [("counted", True)]


def test_unknown_forged_and_expired_tokens_are_a_bare_404_changing_nothing(
    world: World, served: str
) -> None:
    _person, token = texted(world)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, "A" * 22, "short", "x" * 200, "..%2F..%2Fadmin", token + "A"):
        answer = click(served, bad)
        assert answer.status_code == 404, bad
        assert answer.text == "Not Found"
        assert "location" not in answer.headers
    # an open redirect would take its target from the request: none is ever read
    answer = click(served, token + "?next=https://evil.example&url=https://evil.example")
    assert answer.headers["location"] == DESTINATION
    with world.ctx.store.begin() as conn:
        link = links.by_token(conn, token)
    assert link is not None
    world.at(link.expires_at + timedelta(seconds=1))
    expired = click(served, token)
    assert (expired.status_code, expired.text) == (404, "Not Found")
    assert clicks_table(world) == [("counted", False)]  # only the one real click


def test_previewers_and_a_click_within_a_second_are_recorded_not_counted(
    world: World, served: str
) -> None:
    _person, token = texted(world)
    for name, agent in PREVIEWERS.items():
        answer = click(served, token, agent)
        assert answer.status_code == 302, name  # a preview still shows the page
    with requests.Session() as http:  # a link checker's HEAD, in a browser's clothes
        http.trust_env = False
        head = http.head(f"{served}/l/{token}", headers={"User-Agent": BROWSER}, timeout=10)
    assert head.status_code == 302
    assert to_crm(world) == 0
    assert clicks_table(world) == [("previewer", False)]  # recorded once, not counted

    other, fast = texted(world)
    with world.ctx.store.begin() as conn:
        link = links.by_token(conn, fast)
        assert link is not None
        sent = links.delivered_at(conn, link.outbox_id)
    assert sent is not None
    world.at(sent + timedelta(milliseconds=400))  # a prefetch the moment it arrived
    assert click(served, fast).status_code == 302
    assert to_crm(world) == 0
    assert ("too_fast", False) in clicks_table(world)
    world.at(sent + timedelta(seconds=30))  # the person, later
    assert click(served, fast).status_code == 302
    assert to_crm(world) == 1
    assert other.phone is not None


def test_a_click_triggers_the_play_that_answers_it_and_a_low_link_makes_no_task(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    plays = ROOT / "tests" / "data" / "plays" / "clicks.yaml"
    seeded = MORNING - timedelta(hours=1)
    with make_world("salesforce", sandbox, tmp_path, plays, seeded_at=seeded, start=MORNING) as w:
        app = build_link_app(w.ctx.store, clock=w.sandbox.state.clock)
        with Served(app) as running:
            person, token = texted(w)
            assert click(running.url, token).headers["location"] == "https://acme.example/pricing"
            assert to_crm(w) == 1
        [answer] = [r for r in w.rows(person.ref.id) if r.play == "pricing_answer"]
        clicked = MORNING + timedelta(hours=2, minutes=5)
        assert abs(answer.send_at - (clicked + timedelta(minutes=10))) < timedelta(seconds=1)
        tasks = w.ctx.mapping.tasks
        on_record = crm_rows(w, tasks.object, "WhoId", person.ref.id)  # activities are Tasks
        keys = sorted(str(r[tasks.external_id_field]) for r in on_record)
        assert [k.split(":")[0] for k in keys] == ["click", "sms"]  # no task: not high intent
