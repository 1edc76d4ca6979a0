"""Signed webhooks with random fields against the sidecar's whole app (in process, every
layer: body limits, error guard, routes, store): whatever Twilio's fields hold (unicode,
NUL, huge integers, long strings, missing fields, extra parameters), the answer is never
a 500, and no log line, as captured or as rendered JSON, carries a whole phone number or
the message's text.

Every inbound the app accepted is then ingested until it settles: processed, or a dead
letter within SMSYNC_MAX_ATTEMPTS_INBOX attempts."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
import sqlalchemy as sa
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from connector import logs
from connector.config import Settings, load_mapping
from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.engine import ingest
from connector.engine.context import EngineContext
from connector.ports import Cursor, Owner, PullBatch
from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness
from connector.runtime.webhooks import webhook_routes
from connector.store import SqlStore
from connector.store import tables as tb
from tests.migrated import upgrade

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(16)
PUBLIC = "https://sms.example.com"
INBOUND = "/webhooks/twilio/inbound"
STATUS = "/webhooks/twilio/status"
RENDER = structlog.processors.JSONRenderer()


@dataclass
class Fuzzed:
    """The app in process, and what the run accepted (for checks over the inbox)."""

    store: SqlStore
    client: httpx.AsyncClient
    portal: anyio.from_thread.BlockingPortal
    accepted: list[str] = field(default_factory=list)

    def post(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        sig = RequestValidator(TOKEN).compute_signature(PUBLIC + path, dict(params))
        headers = {"X-Twilio-Signature": sig}

        async def go() -> httpx.Response:
            return await self.client.post(path, data=dict(params), headers=headers)

        return self.portal.call(go)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'smsync.db'}"
    upgrade(url)
    store = SqlStore.from_url(url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def fuzzed(fuzz_store: SqlStore) -> Iterator[Fuzzed]:
    cfg = Settings(TWILIO_AUTH_TOKEN=TOKEN, public_base_url=PUBLIC)
    app = build_app(Readiness({}), webhooks=webhook_routes(cfg, fuzz_store))
    with anyio.from_thread.start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        yield Fuzzed(fuzz_store, client, portal)
        portal.call(client.aclose)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n, max_size=n)


phones = st.builds(
    lambda area, exchange, line: f"+1{area}{exchange}{line}",
    st.sampled_from(["212", "415", "646", "907"]),
    st.sampled_from(["555", "234", "987"]),
    _digits(4),
)
addresses = st.one_of(
    phones,
    phones.map(lambda p: f"whatsapp:{p}"),
    st.text(max_size=80),
    st.just(""),
)
sids = st.one_of(
    st.builds(lambda: "SM" + secrets.token_hex(16)),
    st.builds(lambda: "MM" + secrets.token_hex(16)),
    st.text(max_size=40),
)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(min_value=0, max_value=30).map(str),
    st.integers(min_value=10_000, max_value=99_999).map(str),
    st.text(max_size=12),
)
texts = st.text(max_size=40) | st.text(max_size=2000) | st.just("a\x00b")
bodies = st.tuples(st.text(string.ascii_lowercase, min_size=12, max_size=12), texts).map(
    lambda p: "body" + p[0] + p[1]  # a marker no log could hold by chance
)
extras = st.lists(st.tuples(st.text(min_size=1, max_size=70), st.text(max_size=300)), max_size=6)


def _maybe(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.one_of(st.just([]), values.map(lambda v: [(name, v)]))


@st.composite
def inbound_params(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str, list[str]]:
    body = draw(bodies)
    sender, to = draw(phones), draw(addresses)
    params = [("MessageSid", draw(sids)), ("From", sender), ("To", to), ("Body", body)]
    for name, values in (
        ("NumMedia", numbers),
        ("NumSegments", numbers),
        ("AccountSid", st.one_of(st.just("AC" + "0" * 32), st.text(max_size=40))),
    ):
        params += draw(_maybe(name, values))
    params += draw(extras)
    drop = draw(st.sets(st.sampled_from(["MessageSid", "From", "To", "Body"]), max_size=1))
    params = [(k, v) for k, v in params if k not in drop]
    return params, body, [sender, to]


@st.composite
def status_params(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str, str]:
    status = draw(st.sampled_from(["queued", "sent", "delivered", "failed", "Exploded", ""]))
    to = draw(phones)
    params = [("MessageSid", draw(sids)), ("MessageStatus", status), ("To", to)]
    params += draw(_maybe("ErrorCode", numbers))
    params += draw(_maybe("From", addresses))
    params += draw(extras)
    key = draw(st.one_of(st.just(""), st.text(max_size=250)))
    return params, key, to


def _leaks(
    events: list[MutableMapping[str, Any]], phones_seen: list[str], body: str | None
) -> list[str]:
    """The whole phone numbers and the body found in the captured and rendered logs."""
    rendered = "".join(str(RENDER(None, "", dict(e))) for e in events)
    flat = json.dumps(events, default=str) + rendered
    found = [p for p in phones_seen if p.startswith(("+", "whatsapp:+")) and p in flat]
    found += [p[-10:] for p in phones_seen if p.startswith("+1") and p[-10:] in flat]
    if body is not None and body in flat:
        found.append("the body")
    return found


class _NoRecords:
    """The CRM as ingest sees it for strangers: nobody holds these numbers. Ingest asks
    nothing else of it (writes go to the outbox, not to the CRM)."""

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        return []

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        raise AssertionError("not part of ingest")

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        raise AssertionError("not part of ingest")

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        raise AssertionError("not part of ingest")

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}

    def probe(self) -> None:
        raise AssertionError("not part of ingest")


class _Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_a_fuzzed_inbound_is_never_a_500_leaks_nothing_and_settles(fuzzed: Fuzzed) -> None:
    """Each accepted inbound is then ingested until it settles: processed, or a dead
    letter after at most SMSYNC_MAX_ATTEMPTS_INBOX attempts, never a retry loop."""
    most = 3
    clock = _Clock()
    ctx = EngineContext(
        settings=Settings(max_attempts_inbox=most),
        mapping=load_mapping(ROOT / "mappings" / "salesforce.yaml"),
        store=fuzzed.store,
        crm=_NoRecords(),
        sms=None,
        clock=clock,
        worker_id="fuzz",
    )

    @SETTINGS
    @given(case=inbound_params())
    def fuzz(case: tuple[list[tuple[str, str]], str, list[str]]) -> None:
        params, body, addressed = case
        with capture_logs(processors=[logs.redact]) as events:
            reply = fuzzed.post(INBOUND, params)
            if reply.status_code == 200:
                for _ in range(most + 2):  # past every back-off, more passes than allowed
                    ingest.run(ctx)
                    clock.at += timedelta(days=1)
        assert reply.status_code in (200, 400, 413), reply.text
        assert _leaks(events, addressed, body) == []
        if reply.status_code == 200:
            sid = dict(params)["MessageSid"]
            fuzzed.accepted.append(sid)
            t = tb.inbox
            with fuzzed.store.begin() as conn:
                row = conn.execute(
                    sa.select(t.c.attempts, t.c.processed_at, t.c.dead_at).where(
                        t.c.provider_id == sid
                    )
                ).one()
            assert row.processed_at is not None or row.dead_at is not None
            assert row.attempts <= most

    fuzz()
    assert fuzzed.accepted, "the strategies produced no accepted inbound"


@SETTINGS
@given(case=status_params())
def test_a_fuzzed_status_callback_is_never_a_500_and_leaks_nothing(
    fuzzed: Fuzzed, case: tuple[list[tuple[str, str]], str, str]
) -> None:
    params, key, to = case
    path = STATUS + (f"?{httpx.QueryParams({'k': key})}" if key else "")
    with capture_logs(processors=[logs.redact]) as events:
        reply = fuzzed.post(path, params)
    assert reply.status_code in (204, 400, 413), reply.text
    assert _leaks(events, [to], None) == []
