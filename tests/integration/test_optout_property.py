"""A property over the real engine: whatever a person texts (opt-outs in any wording, HELP,
START/YES, ordinary replies), whatever reps send and whichever plays fire meanwhile (one
per purpose: marketing, informational, transactional and an admin's own), while their
number is opted out nothing reaches it but the one confirmation, sent within 5 minutes of
the opt-out. The scope is `all` (the default): every opt-out revokes every purpose.

Real parts: replies typed on the Twilio emulator's handset reach the webhook app over HTTP;
the real ingest, chokepoint and sender (TwilioSms over HTTP) act; what reached the number
is read back from the emulator. Twilio's built-in keyword handling is off, as on an
account where smsync answers keywords (`answered_by: smsync`), so every text the number
gets is smsync's. Each example uses a number of its own."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector.config import Settings, load_mapping, load_plays, to_policy
from connector.domain import consent as consent_rules
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.domain.signals import Signal, SignalKind
from connector.engine import ingest, send
from connector.engine.context import EngineContext
from connector.engine.manual import manual_send
from connector.engine.plan import PlaysPlanner
from connector.runtime.webhooks import build_webhook_app
from connector.runtime.wiring import build
from connector.sandbox.server import Sandbox
from connector.store import consent, contacts
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
CONFIRMATION = "Acme: you're unsubscribed and will get no more messages from us."
WINDOW = timedelta(minutes=5)
REPLIES = (
    "STOP",
    "Stop please",
    "please stop texting me",
    "ALTO",
    "No me envíes más mensajes",
    "STPO",
    "I told you guys to stop like three times now",
    "HELP",
    "help please",
    "START",
    "YES",
    "unstop",
    "How much does it cost?",
    "Can we stop by Thursday?",
)
_numbers = itertools.count(1000)
# each play of the scenario gets a purpose of its own; the plays file keeps scope `all`
PURPOSES = {
    "speed_to_lead": "marketing",
    "meeting_confirmation": "informational",
    "meeting_confirmation_strict": "transactional",
    "demo_request_follow_up": "demos",
}
SIGNALS = {  # what fires the plays: a stage, a meeting, a form
    "sql": (SignalKind.STAGE_CHANGED, {"from": "mql", "to": "sql"}),
    "meeting": (SignalKind.MEETING_BOOKED, {"from": "engaged"}),
    "form": (SignalKind.FORM_SUBMITTED, {"form": "demo-request"}),
}


@dataclass
class Engine:
    sandbox: Sandbox
    ctx: EngineContext


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("optout-property")
    scenario = (ROOT / "tests" / "data" / "plays" / "scenario.yaml").read_text(encoding="utf-8")
    help_text = (
        "Acme: reminders. Msg & data rates may apply. help@acme.example. Reply STOP to opt out."
    )
    plays = tmp / "plays.yaml"
    scenario = scenario.replace(
        "policy:\n",
        "policy:\n  purposes: [demos]\n  keywords:\n"
        f"    help_text: {json.dumps(help_text)}\n"
        f"    opt_out_confirmation: {json.dumps(CONFIRMATION)}\n",
        1,
    )
    for name, purpose in PURPOSES.items():
        scenario = scenario.replace(
            f"  - name: {name}\n", f"  - name: {name}\n    purpose: {purpose}\n"
        )
    plays.write_text(scenario, encoding="utf-8")
    with Sandbox() as sandbox:
        sandbox.state.clock.set(START)
        db = f"sqlite:///{tmp / 'smsync.db'}"
        upgrade(db)
        config = sandbox_settings(sandbox, SMSYNC_CRM="salesforce", SMSYNC_DATABASE_URL=db)
        mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
        planner = PlaysPlanner(to_policy(load_plays(plays, mapping)))
        ctx = build(config, clock=sandbox.state.clock, planner=planner, mapping=mapping).engine
        hooks = Settings(TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=db)
        with Served(build_webhook_app(hooks, ctx.store, clock=sandbox.state.clock)) as served:
            admin = f"{sandbox.urls['admin']}/__sandbox/twilio"
            for path, body in (
                ("/webhook", {"base_url": served.url}),
                ("/keywords", {"builtin": False}),
            ):
                assert requests.post(admin + path, json=body, timeout=10).status_code == 200
            yield Engine(sandbox, ctx)
        ctx.store.close()


def _text(engine: Engine, phone: str, body: str) -> None:
    r = requests.post(
        f"{engine.sandbox.urls['admin']}/__sandbox/twilio/inbound",
        json={"from": phone, "body": body},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert any(d.get("status_code") == 200 for d in r.json()["deliveries"])


def _drain(engine: Engine) -> None:
    ingest.run(engine.ctx)
    send.run(engine.ctx)


events = st.lists(
    st.one_of(
        st.tuples(st.just("reply"), st.sampled_from(REPLIES)),
        st.tuples(st.just("play"), st.sampled_from(sorted(SIGNALS))),
        st.tuples(st.just("manual"), st.just("")),
        st.tuples(st.just("wait"), st.sampled_from(["1", "3", "7", "90", "700"])),
    ),
    min_size=1,
    max_size=8,
)
TWO_REVOCATIONS = [("reply", "please stop texting me"), ("reply", "STOP")]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=events)
@example(events=TWO_REVOCATIONS)
@example(events=[("play", "meeting"), ("reply", "STPO"), ("play", "sql"), ("play", "form")])
@example(events=[("play", "sql"), ("wait", "3"), ("reply", "ALTO"), ("play", "meeting")])
@example(events=[("manual", ""), ("reply", "ALTO"), ("manual", ""), ("wait", "3"), ("manual", "")])
@example(events=[("wait", "700"), ("manual", ""), ("reply", "STPO"), ("wait", "700")])
@example(events=[("reply", "STOP"), ("reply", "YES"), ("manual", ""), ("reply", "Stop please")])
@example(events=[("reply", "HELP"), ("reply", "STOP"), ("reply", "HELP"), ("wait", "7")])
def test_nothing_but_the_one_confirmation_reaches_an_opted_out_number(
    engine: Engine, events: list[tuple[str, str]]
) -> None:
    clock = engine.sandbox.state.clock
    n = next(_numbers)
    clock.set(START + timedelta(days=7 * (n - 1000)))  # a Tuesday, 10:00 in New York
    phone, ref = f"+1212555{n:04d}", CrmRef("Lead", f"00Q{n:012d}")
    with engine.ctx.store.begin() as conn:
        contacts.upsert(
            conn,
            ContactState(
                ref=ref,
                phone=phone,
                time_zones=TimeZones(("America/New_York",), TzSource.CRM_FIELD),
                consent=ConsentStatus.UNKNOWN,
                lifecycle_stage="sql",
                segments={"first_name": "Ann"},
            ),
            clock.now(),
        )
    policy = send.policy_of(engine.ctx)
    for kind, value in events:
        if kind == "reply":
            _text(engine, phone, value)
            _drain(engine)
        elif kind == "play":
            signal_kind, details = SIGNALS[value]
            signal = Signal(signal_kind, ref, details, clock.now())
            with engine.ctx.store.begin() as conn:
                state = contacts.get(conn, ref)
                assert state is not None
                assert engine.ctx.planner is not None
                engine.ctx.planner.plan(conn, state, [signal], clock.now())
            _drain(engine)
        elif kind == "manual":
            manual_send(
                engine.ctx.store,
                engine.ctx.sms,
                clock,
                policy,
                contact_id=ref.id,
                play="meeting_confirmation",
                body="Hi, this is your rep.",
            )
        else:
            clock.advance(int(value) * 60)
            _drain(engine)  # deferred texts come due
        clock.advance(1)  # no two events share an instant
    clock.advance(14 * 3600)  # every deferred text is due by now
    _drain(engine)

    with engine.ctx.store.begin() as conn:
        history = consent.history(conn, phone)
    assert all(e.purpose is None for e in history)  # scope all: every purpose revoked
    texts = sorted(
        (m for m in engine.sandbox.emulators["twilio"].find("Messages", "to", phone)),
        key=lambda m: m["date_created"],
    )
    confirmed: dict[datetime, int] = {}
    for text in texts:
        # the provider's times are whole seconds; events are at least a second apart
        at = datetime.strptime(text["date_created"], "%a, %d %b %Y %H:%M:%S %z")
        entry = consent_rules.effective([e for e in history if e.at.replace(microsecond=0) <= at])
        if entry is None or entry.status is not ConsentStatus.OPTED_OUT:
            continue
        assert text["body"] == CONFIRMATION, (events, text["body"])
        assert at - entry.at.replace(microsecond=0) <= WINDOW, events
        confirmed[entry.at] = confirmed.get(entry.at, 0) + 1
    assert all(count == 1 for count in confirmed.values()), (events, confirmed)
    if events[0] == ("play", "meeting"):  # not vacuous: the plays do reach a number
        assert texts, events
        assert texts[0]["body"] != CONFIRMATION
