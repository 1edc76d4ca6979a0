"""Webhook intake over real sockets: duplicates across two replicas sharing one database,
and webhooks the network lost, brought in by the reconciliation poll."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from connector.config import Settings
from connector.engine.reconcile import CURSOR_NAME, poll
from connector.ports import OutboundSms
from connector.runtime.webhooks import build_webhook_app
from connector.sandbox.server import Sandbox
from connector.sms.twilio.client import TwilioSms
from connector.store import SqlStore, cursors, inbox
from connector.store.tables import inbox as inbox_table
from tests.serve_kit import Served

INBOUND = "/webhooks/twilio/inbound"


def rows(store: SqlStore) -> list[str]:
    with store.begin() as conn:
        return list(conn.execute(sa.select(inbox_table.c.provider_id)).scalars())


def test_one_webhook_five_times_concurrently_to_two_replicas_is_one_row(
    migrated_url: str,
) -> None:
    """Acceptance 2 (Postgres in CI; SQLite too): the database's unique key decides."""
    token = secrets.token_hex(16)
    public = "https://sms.example.com"
    cfg = Settings(TWILIO_AUTH_TOKEN=token, public_base_url=public)
    stores = [SqlStore.from_url(migrated_url), SqlStore.from_url(migrated_url)]
    sid = "SM" + secrets.token_hex(16)
    params = {"MessageSid": sid, "From": "+14155552671", "To": "+15005550006", "Body": "Yes"}
    headers = {
        "X-Twilio-Signature": RequestValidator(token).compute_signature(public + INBOUND, params)
    }
    try:
        with (
            Served(build_webhook_app(cfg, stores[0])) as a,
            Served(build_webhook_app(cfg, stores[1])) as b,
        ):
            start = threading.Barrier(10)

            def post(base: str) -> int:
                start.wait(timeout=10)
                return requests.post(
                    base + INBOUND, data=params, headers=headers, timeout=10
                ).status_code

            with ThreadPoolExecutor(10) as pool:
                codes = list(pool.map(post, [a.url, b.url] * 5))
        assert codes == [200] * 10
        assert rows(stores[0]) == [sid]
        # one downstream effect: the two replicas' workers claim the row once between them
        now = datetime.now(UTC)
        claimed = []
        for i, s in enumerate(stores):
            with s.begin() as conn:
                claimed += inbox.claim(conn, f"worker-{i}", 10, 60, now)
        assert [item.provider_id for item in claimed] == [sid]
    finally:
        for s in stores:
            s.close()


@pytest.fixture
def sqlite_store(tmp_path: object) -> Iterator[SqlStore]:
    from pathlib import Path

    from tests.migrated import upgrade

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


def test_the_poll_brings_in_every_message_the_network_dropped_exactly_once(
    sqlite_store: SqlStore,
) -> None:
    """Acceptance 5: the sandbox drops 30% of webhooks; inbox ends with each message once."""
    with Sandbox(vendors=("twilio",)) as sb:
        creds = sb.credentials
        cfg = Settings(TWILIO_AUTH_TOKEN=creds.twilio_auth_token)
        with Served(build_webhook_app(cfg, sqlite_store)) as app:
            admin = f"{sb.urls['admin']}/__sandbox/twilio"
            requests.post(f"{admin}/webhook", json={"base_url": app.url}, timeout=10)
            knobs = {"drop_rate": 0.3, "drop_seed": 11}
            requests.post(f"{admin}/network", json=knobs, timeout=10).raise_for_status()
            sids = []
            for i in range(40):
                sender = f"+1415555{1000 + i:04d}"
                reply = requests.post(
                    f"{admin}/inbound", json={"from": sender, "body": f"reply {i}"}, timeout=10
                ).json()
                sids.append(reply["sid"])
            log = requests.get(f"{admin}/deliveries?kind=inbound", timeout=10).json()
            dropped = {d["sid"] for d in log["deliveries"] if d["dropped"]}
            assert 5 <= len(dropped) <= 20  # about 30% of 40, seeded
            assert set(rows(sqlite_store)) == set(sids) - dropped

            twilio = TwilioSms(
                account_sid=creds.twilio_account_sid,
                auth_token=creds.twilio_auth_token,
                base_url=sb.urls["twilio"],
                from_=creds.twilio_from,
                public_base_url=app.url,
            )
            twilio.send(OutboundSms(to="+14155552671", body="hello", idempotency_key="k1"))
            result = poll(twilio, sqlite_store)
            assert result.inbound_new == len(dropped)
            assert sorted(rows(sqlite_store)) == sorted([*sids, *status_ids(sqlite_store)])
            assert len(rows(sqlite_store)) == len(set(rows(sqlite_store)))
            with sqlite_store.begin() as conn:
                cursor = cursors.get(conn, CURSOR_NAME)
                polled = inbox.get(conn, min(dropped))
            assert cursor is not None
            assert polled is not None
            assert polled.payload["source"] == "poll"
            assert polled.payload["body"].startswith("reply ")
            again = poll(twilio, sqlite_store)
            assert (again.inbound_new, again.status_new) == (0, 0)


def status_ids(store: SqlStore) -> list[str]:
    return [p for p in rows(store) if ":" in p]
