"""`POST /api/send` over real HTTP (the sidecar's whole app behind uvicorn), with the Twilio
emulator as the provider, on SQLite and Postgres: requests that would have been a 500
or a provider refusal are a 400 naming the problem; one idempotency key is one decision,
one text and one answer for every caller, at once or later; a slow provider is answered
at the deadline without a second send."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from connector.domain.model import ConsentStatus
from connector.runtime.api_request import SendRequest
from connector.sandbox.server import Sandbox
from connector.sms.twilio.client import TwilioSms
from connector.store import SqlStore, api_requests, contacts, sms_outbox
from connector.store import tables as tb
from tests.integration.api_kit import (
    AUTH,
    GONE,
    LEAD,
    LEAD_PHONE,
    NOON,
    PLAY,
    api_app,
    count,
    seed,
)
from tests.serve_kit import Served


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("twilio",)) as sb:
        yield sb


@pytest.fixture
def twilio(sandbox: Sandbox) -> Iterator[TwilioSms]:
    c = sandbox.credentials
    sms = TwilioSms(
        account_sid=c.twilio_account_sid,
        auth_token=c.twilio_auth_token,
        base_url=sandbox.urls["twilio"],
        from_=c.twilio_from,
    )
    yield sms
    sandbox.state.faults.clear("twilio")


def sent_to(twilio: TwilioSms, phone: str) -> int:
    return sum(1 for m in twilio.list_messages(to=phone) if m.get("direction") != "inbound")


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def send(self, body: Any = None, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {**AUTH, "Content-Type": "application/json"}
        return self.http.post(f"{self.base}/api/send", data=data, headers=headers, timeout=30)


@pytest.fixture
def api(store: SqlStore) -> Iterator[Api]:
    with Served(api_app(seed(store), api_token=AUTH["Authorization"][7:])) as server:
        yield Api(server.url)


REQUEST = {"contact": LEAD.id, "play": PLAY}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[" * 5000 + b"]" * 5000, "nests deeper than 4"),  # was a 500 (RecursionError)
        (json.dumps({**REQUEST, "body": "x" * 15_000}).encode(), "the limit is 1,600"),
        (json.dumps({**REQUEST, "body": "hi\x00"}).encode(), "'body' contains a NUL"),
        (
            b'{"contact": "00Q000000000001", "play": "meeting_confirmation", "body": "\\ud800"}',
            "lone surrogate",
        ),
        (json.dumps({**REQUEST, "bodyy": "hi"}).encode(), "unknown field(s) bodyy"),
        (json.dumps({**REQUEST, "idempotency_key": "k" * 65}).encode(), "'idempotency_key' is 65"),
        (json.dumps({**REQUEST, "contact": "0" * 65}).encode(), "'contact' is 65"),
    ],
)
def test_a_request_that_cannot_be_stored_or_sent_is_400_and_changes_nothing(
    api: Api, store: SqlStore, raw: bytes, says: str
) -> None:
    reply = api.send(raw=raw)
    assert reply.status_code == 400, reply.text
    assert says in reply.json()["error"]
    assert count(store, tb.sms_outbox) == 0
    assert count(store, tb.decision_log) == 0


@pytest.fixture
def live(store: SqlStore, twilio: TwilioSms, request: pytest.FixtureRequest) -> Iterator[Api]:
    timeout = getattr(request, "param", 15.0)
    app = api_app(
        seed(store), twilio, api_token=AUTH["Authorization"][7:], api_send_timeout_s=timeout
    )
    with Served(app) as server:
        yield Api(server.url)


def test_twenty_requests_with_one_key_at_once_are_one_text_and_one_answer(
    live: Api, store: SqlStore, twilio: TwilioSms
) -> None:
    before = sent_to(twilio, LEAD_PHONE)
    start = threading.Barrier(20)
    asked = {**REQUEST, "idempotency_key": "same-20"}

    def call(_: int) -> requests.Response:
        start.wait(timeout=10)
        return Api(live.base).send(asked)

    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(call, range(20)))
    assert [r.status_code for r in replies] == [200] * 20, [r.text for r in replies]
    answers = [r.json() for r in replies]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["outcome"] == "sent"
    assert answers[0]["sid"].startswith("SM")
    assert answers[0]["verdict"] == "allow"
    assert sent_to(twilio, LEAD_PHONE) == before + 1
    # the decision and the send step's re-check before the provider; none for a repeat
    assert count(store, tb.decision_log) == 2
    assert count(store, tb.sms_outbox) == 1
    later = live.send(asked)  # and later, the same answer
    assert (later.status_code, later.json()) == (200, answers[0])


def test_a_key_reused_for_another_request_is_422(live: Api, store: SqlStore) -> None:
    assert live.send({**REQUEST, "idempotency_key": "k1", "body": "one"}).status_code == 200
    other = live.send({**REQUEST, "idempotency_key": "k1", "body": "two"})
    assert other.status_code == 422
    assert "different contact, play or body" in other.json()["error"]
    assert count(store, tb.sms_outbox) == 1


def test_a_blocked_first_answer_stands_for_every_repeat(live: Api, store: SqlStore) -> None:
    asked = {"contact": GONE.id, "play": PLAY, "idempotency_key": "gone-1"}
    first = live.send(asked)
    assert first.status_code == 409
    assert [r["code"] for r in first.json()["reasons"]] == ["opted_out"]
    with store.begin() as conn:  # the contact opts back in: a new key would now send
        state = contacts.get(conn, GONE)
        assert state is not None
        conn.execute(
            sa.update(tb.contact_state)
            .where(tb.contact_state.c.crm_id == GONE.id)
            .values(consent=ConsentStatus.OPTED_IN.value)
        )
    again = live.send(asked)
    assert (again.status_code, again.json()) == (409, first.json())
    assert count(store, tb.decision_log) == 1
    assert count(store, tb.sms_outbox) == 0


def test_a_first_request_that_died_mid_send_is_answered_from_the_outbox(
    live: Api, store: SqlStore
) -> None:
    """The process that took the key died before it settled the answer; the send job sent
    the text since. A repeat answers that, without waiting out the deadline (15 s)."""
    key, outbox_key = "died-1", "manual:meeting_confirmation:Lead/00Q000000000001:died-1"
    fingerprint = SendRequest(LEAD.id, PLAY, None, dry_run=False, idempotency_key=key)
    with store.begin() as conn:
        api_requests.claim(conn, key, fingerprint.fingerprint, NOON)
        sms_outbox.enqueue(
            conn, outbox_key, to=LEAD_PHONE, body="hi", send_at=NOON, now=NOON, contact=LEAD
        )
        row = sms_outbox.by_key(conn, outbox_key)
        assert row is not None
        sms_outbox.mark_sent(conn, row.id, "SM" + "a" * 32, NOON)
        in_flight: dict[str, Any] = {"verdict": "allow", "outcome": "in_flight", "sid": None}
        api_requests.answer(
            conn, key, status=202, response=in_flight, outbox_key=outbox_key, settled_at=None
        )
    started = time.monotonic()
    reply = live.send({**REQUEST, "idempotency_key": key})
    assert time.monotonic() - started < 5
    assert reply.status_code == 200
    assert (reply.json()["outcome"], reply.json()["sid"]) == ("sent", "SM" + "a" * 32)


@pytest.mark.parametrize("live", [0.5], indirect=True)
def test_a_slow_provider_is_answered_in_flight_at_the_deadline_and_sent_once(
    live: Api, store: SqlStore, twilio: TwilioSms, sandbox: Sandbox
) -> None:
    before = sent_to(twilio, LEAD_PHONE)
    admin = f"{sandbox.urls['admin']}/__sandbox/faults/twilio"
    requests.post(admin, json={"latency_ms": 2000}, timeout=10).raise_for_status()
    asked = {**REQUEST, "idempotency_key": "slow-1"}
    started = time.monotonic()
    first = live.send(asked)
    took = time.monotonic() - started
    assert first.status_code == 202, first.text
    assert first.json()["outcome"] == "in_flight"
    assert "never sent twice" in first.json()["detail"]
    assert took < 1.5  # the deadline (0.5 s), not the provider's 2 s
    deadline = time.monotonic() + 30
    answer = first
    while answer.json()["outcome"] == "in_flight" and time.monotonic() < deadline:
        answer = live.send(asked)  # each repeat waits up to the deadline for the send
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "sent"
    requests.delete(admin, timeout=10)
    assert sent_to(twilio, LEAD_PHONE) == before + 1
    assert count(store, tb.sms_outbox) == 1
