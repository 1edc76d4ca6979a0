"""The webhook routes in process: signature first (403, nothing stored), then shape (400),
then one inbox row per provider id, and status callbacks on a monotonic state machine."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio.from_thread
import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator

from connector.config import Settings
from connector.domain.model import Direction, Message, MessageStatus
from connector.runtime.webhooks import EMPTY_TWIML, build_webhook_app
from connector.store import SqlStore, inbox, messages
from connector.store.tables import inbox as inbox_table
from connector.store.tables import message_events
from tests.migrated import upgrade

TOKEN = secrets.token_hex(16)
PUBLIC = "https://sms.example.com"  # what Twilio calls; the app binds elsewhere
INBOUND = "/webhooks/twilio/inbound"
STATUS = "/webhooks/twilio/status"


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound_params(sid: str, body: str = "Yes, 3pm works") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155552671",
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
    }


def sign(path: str, params: dict[str, str], base: str = PUBLIC) -> dict[str, str]:
    sig = RequestValidator(TOKEN).compute_signature(base + path, params)
    return {"X-Twilio-Signature": sig}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


class AppClient:
    """The app in process over httpx's ASGI transport, on one event loop in a thread."""

    def __init__(self, app: ASGIApp, portal: anyio.from_thread.BlockingPortal) -> None:
        self.portal = portal
        transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            return await self.http.post(path, data=data, headers=headers)

        return self.portal.call(go)


@pytest.fixture
def client(store: SqlStore) -> Iterator[AppClient]:
    cfg = Settings(TWILIO_AUTH_TOKEN=TOKEN, public_base_url=PUBLIC)
    # the client calls http://testserver: a proxy in front, as far as the URL goes
    with anyio.from_thread.start_blocking_portal() as portal:
        c = AppClient(build_webhook_app(cfg, store), portal)
        yield c
        portal.call(c.http.aclose)


def count(store: SqlStore, table: sa.Table) -> int:
    with store.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_signed_inbound_is_stored_once_and_answered_with_empty_twiml(
    client: AppClient, store: SqlStore
) -> None:
    sid = new_sid()
    params = inbound_params(sid, "please stop texting me")
    for _ in range(3):
        r = client.post(INBOUND, data=params, headers=sign(INBOUND, params))
        assert r.status_code == 200
        assert r.text == EMPTY_TWIML
        assert r.headers["content-type"].startswith("text/xml")
    assert count(store, inbox_table) == 1
    with store.begin() as conn:
        item = inbox.get(conn, sid)
    assert item is not None
    assert item.kind == "inbound"
    assert item.payload["body"] == "please stop texting me"
    assert item.payload["from"] == "+14155552671"
    assert item.payload["source"] == "webhook"
    assert item.payload["raw"]["SmsStatus"] == "received"


@pytest.mark.parametrize(
    "tamper",
    [
        {"Body": "STOP"},  # a tampered parameter
        {"Extra": "1"},  # an added parameter
    ],
)
def test_a_tampered_request_is_403_and_changes_nothing(
    client: AppClient, store: SqlStore, tamper: dict[str, str]
) -> None:
    params = inbound_params(new_sid())
    headers = sign(INBOUND, params)
    r = client.post(INBOUND, data={**params, **tamper}, headers=headers)
    assert r.status_code == 403
    assert count(store, inbox_table) == 0


def test_unsigned_wrong_token_and_wrong_host_are_403(client: AppClient, store: SqlStore) -> None:
    params = inbound_params(new_sid())
    assert client.post(INBOUND, data=params).status_code == 403
    wrong_token = RequestValidator("0" * 32).compute_signature(PUBLIC + INBOUND, params)
    r = client.post(INBOUND, data=params, headers={"X-Twilio-Signature": wrong_token})
    assert r.status_code == 403
    # signed for the bind address rather than the public URL: the proxy's host is wrong
    r = client.post(INBOUND, data=params, headers=sign(INBOUND, params, "http://testserver"))
    assert r.status_code == 403
    status = {"MessageSid": new_sid(), "MessageStatus": "delivered"}
    assert client.post(STATUS, data=status).status_code == 403
    assert count(store, inbox_table) == 0
    assert count(store, message_events) == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (INBOUND, {"From": "+14155552671", "To": "+15005550006", "Body": "hi"}),
        (INBOUND, {"MessageSid": "not-a-sid", "From": "+1", "To": "+2"}),
        (STATUS, {"MessageSid": "SM" + "1" * 32}),
        (STATUS, {"MessageSid": "SM" + "1" * 32, "MessageStatus": "exploded"}),
        (STATUS, {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "x"}),
    ],
)
def test_a_signed_but_malformed_request_is_400_and_changes_nothing(
    client: AppClient, store: SqlStore, path: str, params: dict[str, str]
) -> None:
    r = client.post(path, data=params, headers=sign(path, params))
    assert r.status_code == 400
    assert count(store, inbox_table) == 0


def test_the_status_query_is_signed_and_carries_the_idempotency_key(
    client: AppClient, store: SqlStore
) -> None:
    sid = new_sid()
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30003"}
    path = STATUS + "?k=sms%3A42"
    assert client.post(path, data=params, headers=sign(path, params)).status_code == 204
    # the same signature without the query does not verify
    assert client.post(STATUS, data=params, headers=sign(path, params)).status_code == 403
    with store.begin() as conn:
        item = inbox.get(conn, f"{sid}:failed")
    assert item is not None
    assert item.payload["idempotency_key"] == "sms:42"
    assert item.payload["error_code"] == 30003


def _post_statuses(client: AppClient, sid: str, order: list[str]) -> None:
    for status in order:
        params = {"MessageSid": sid, "MessageStatus": status, "To": "+14155552671"}
        assert client.post(STATUS, data=params, headers=sign(STATUS, params)).status_code == 204


def _queued(sid: str) -> Message:
    return Message(
        sid=sid,
        direction=Direction.OUTBOUND,
        from_="+15005550006",
        to="+14155552671",
        body="hello",
        status=MessageStatus.QUEUED,
        at=datetime.now(UTC),
    )


_STATUSES = ["queued", "sent", "delivered"]
_orders = st.lists(st.sampled_from(_STATUSES), max_size=6).flatmap(
    lambda extra: st.permutations(_STATUSES + extra)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=_orders, stored_first=st.booleans())
def test_any_order_of_status_callbacks_with_duplicates_ends_delivered(
    client: AppClient, store: SqlStore, order: list[str], stored_first: bool
) -> None:
    sid = new_sid()
    now = datetime.now(UTC)
    if stored_first:
        with store.begin() as conn:
            messages.upsert(conn, _queued(sid), now)
    _post_statuses(client, sid, order)
    if not stored_first:  # the send's commit came after its callbacks
        with store.begin() as conn:
            messages.upsert(conn, _queued(sid), now)
    with store.begin() as conn:
        stored = messages.get(conn, sid)
        kept = messages.events(conn, sid)
    assert stored is not None
    assert stored.status is MessageStatus.DELIVERED
    # one raw event per distinct status: duplicates stop at the inbox's unique key
    assert sorted(s.value for s, _ in kept) == sorted(set(order))


def test_a_regression_is_ignored_and_kept(client: AppClient, store: SqlStore) -> None:
    sid = new_sid()
    with store.begin() as conn:
        messages.upsert(conn, _queued(sid), datetime.now(UTC))
    _post_statuses(client, sid, ["delivered", "sent"])
    with store.begin() as conn:
        stored = messages.get(conn, sid)
        kept = messages.events(conn, sid)
    assert stored is not None
    assert stored.status is MessageStatus.DELIVERED
    assert kept == [(MessageStatus.DELIVERED, True), (MessageStatus.SENT, False)]


def test_no_auth_token_is_a_config_error(store: SqlStore) -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        build_webhook_app(Settings(), store)


def test_group_commit_isolates_a_failing_item(store: SqlStore) -> None:
    """Commits batched on SQLite: one failing item fails alone; the others are stored."""
    from connector.runtime.webhooks import TwilioWebhooks

    hooks = TwilioWebhooks(
        auth_token=TOKEN,
        public_base_url=PUBLIC,
        store=store,
        clock=type("C", (), {"now": staticmethod(lambda: datetime.now(UTC))})(),
        db_concurrency=1,
    )
    now = datetime.now(UTC)

    def good(pid: str) -> Callable[[sa.Connection], bool]:
        return lambda conn: inbox.insert_if_new(conn, pid, "inbound", {"n": pid}, now)

    def bad(conn: sa.Connection) -> bool:
        raise RuntimeError("boom")

    async def run() -> list[object]:
        import asyncio

        tasks = [hooks._commit(good("a")), hooks._commit(bad), hooks._commit(good("b"))]
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    results = anyio.run(run)
    assert results[0] is True
    assert isinstance(results[1], RuntimeError)
    assert results[2] is True
    with store.begin() as conn:
        assert inbox.get(conn, "a") is not None
        assert inbox.get(conn, "b") is not None


def _with(params: dict[str, str], **changes: str | None) -> dict[str, str]:
    out = dict(params)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


_SID = "SM" + "1" * 32
_STATUS = {"MessageSid": _SID, "MessageStatus": "failed", "To": "+14155552671"}


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (STATUS, {**_STATUS, "ErrorCode": "1" * 30}, "ErrorCode"),  # was a 500 on SQLite
        (STATUS, {**_STATUS, "ErrorCode": str(2**40)}, "ErrorCode"),  # was a 500 on Postgres
        (STATUS, {**_STATUS, "ErrorCode": "999"}, "ErrorCode"),
        (STATUS, {**_STATUS, "ErrorCode": "-30003"}, "ErrorCode"),
        (STATUS, {**_STATUS, "ErrorCode": "٣٠٠٠٣"}, "ErrorCode"),  # digits, but not ASCII
        (INBOUND, _with(inbound_params(_SID), NumMedia="11"), "NumMedia"),
        (INBOUND, _with(inbound_params(_SID), NumSegments="0"), "NumSegments"),
        (INBOUND, _with(inbound_params(_SID), NumSegments="25"), "NumSegments"),
        (INBOUND, _with(inbound_params(_SID), Body="x" * 1601), "Body"),
        (INBOUND, _with(inbound_params(_SID), Body="hi\x00there"), "Body"),
        (INBOUND, _with(inbound_params(_SID), From="+1" + "4" * 70), "From"),
        (INBOUND, _with(inbound_params(_SID), To="+1500\n5550006"), "To"),
        (INBOUND, _with(inbound_params(_SID), AccountSid="AC123"), "AccountSid"),
        (INBOUND, _with(inbound_params(_SID), MessagingServiceSid="MGxyz"), "MessagingServiceSid"),
        (INBOUND, _with(inbound_params(_SID), MessageSid="SM" + "G" * 32), "MessageSid"),
        (INBOUND, _with(inbound_params(_SID), MediaUrl0="https://x/" + "a" * 3000), "MediaUrl0"),
        (INBOUND, {**inbound_params(_SID), **{f"P{i}": "1" for i in range(100)}}, "parameters"),
    ],
)
def test_a_signed_field_outside_what_twilio_sends_is_400_naming_it(
    client: AppClient, store: SqlStore, path: str, params: dict[str, str], named: str
) -> None:
    r = client.post(path, data=params, headers=sign(path, params))
    assert r.status_code == 400, r.text
    assert named in r.text
    assert "\x00" not in r.text  # the value is never echoed
    assert "4" * 20 not in r.text
    assert count(store, inbox_table) == 0
    assert count(store, message_events) == 0


def test_the_status_urls_key_is_checked_too(client: AppClient, store: SqlStore) -> None:
    path = STATUS + "?k=" + "a" * 300
    params = {**_STATUS, "MessageSid": new_sid()}
    r = client.post(path, data=params, headers=sign(path, params))
    assert r.status_code == 400
    assert "k query parameter" in r.text
    assert count(store, inbox_table) == 0


def test_what_twilio_does_send_at_its_limits_is_accepted(
    client: AppClient, store: SqlStore
) -> None:
    sid = new_sid()
    params = _with(
        inbound_params(sid, "é" * 1600),  # 1,600 characters, 24 UCS-2 segments
        From="whatsapp:+14155552671",
        To="whatsapp:+15005550006",
        NumMedia="10",
        NumSegments="24",
        MessagingServiceSid="MG" + "a" * 32,
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
    )
    assert client.post(INBOUND, data=params, headers=sign(INBOUND, params)).status_code == 200
    status = {**_STATUS, "MessageSid": sid, "ErrorCode": "30003", "From": ""}
    assert client.post(STATUS, data=status, headers=sign(STATUS, status)).status_code == 204
    with store.begin() as conn:
        item = inbox.get(conn, sid)
    assert item is not None
    assert item.payload["from"] == "whatsapp:+14155552671"
    assert item.payload["num_media"] == 10
