"""The engine inside `smsync run`: a real process against the sandbox and a temp SQLite file
turns replies texted on the sandbox's handset into CRM activities, woken by the work
itself (issue 7, acceptance 6), with `/api/send` mounted beside the webhooks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connector.domain.model import CrmRef, CrmWrite
from connector.runtime.service import expire_dead_leases
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox
from tests.migrated import upgrade

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "twilio"), seed_contacts=CONTACTS) as sb:
        yield sb


@pytest.fixture
def sidecar(sandbox: Sandbox, tmp_path: Path) -> Iterator[str]:
    """`smsync run` whose ingest and writeback intervals are an hour: after their first
    pass at start-up, only a wake can run them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = sandbox.urls["admin"]
    reply = requests.post(f"{admin}/__sandbox/twilio/webhook", json={"base_url": base}, timeout=10)
    assert reply.status_code == 200
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
    env = {
        **clean,
        **sandbox.env(),
        "SMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'smsync.db'}",
        "SMSYNC_HTTP_PORT": str(port),
        "SMSYNC_PUBLIC_BASE_URL": base,
        "SMSYNC_INGEST_INTERVAL_S": "3600",
        "SMSYNC_WRITEBACK_INTERVAL_S": "3600",
        "SMSYNC_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "smsync run did not become healthy"
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # a busy machine is slow
                time.sleep(0.05)
        time.sleep(1.0)  # let the start-up passes of ingest and writeback finish
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert proc.returncode == 0, err[-3000:]


def test_replies_become_activities_without_waiting_for_an_interval(
    sandbox: Sandbox, sidecar: str
) -> None:
    admin = sandbox.urls["admin"]
    phones = [c.phone_e164 for c in generate(CONTACTS).contacts if c.phone_e164][:5]
    sent = time.monotonic()
    sids = []
    for i, phone in enumerate(phones):
        reply = requests.post(
            f"{admin}/__sandbox/twilio/inbound",
            json={"from": phone, "body": f"Yes, Thursday works ({i})"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        deliveries = reply.json()["deliveries"]
        assert [d["status_code"] for d in deliveries] == [200]  # the sidecar took it
        sids.append(str(reply.json()["sid"]))
    emulator = sandbox.emulators["salesforce"]
    pending = set(sids)
    while pending and time.monotonic() - sent < 30:
        pending = {
            sid for sid in pending if not emulator.find("Task", "SMS_Message_Id__c", f"sms:{sid}")
        }
        time.sleep(0.05)
    took = time.monotonic() - sent
    assert pending == set(), f"{len(pending)} replies never reached the CRM"
    # the intervals are an hour: only the webhook's wake of ingest, and ingest's wake of
    # writeback, can have written them this soon
    assert took < 20
    for sid in sids:
        assert len(emulator.find("Task", "SMS_Message_Id__c", f"sms:{sid}")) == 1


def test_the_api_route_is_served_beside_the_webhooks(sidecar: str) -> None:
    reply = requests.post(f"{sidecar}/api/send", json={"contact": "x", "play": "y"}, timeout=10)
    assert reply.status_code == 401  # mounted, and closed without SMSYNC_API_TOKEN


def test_a_restart_on_sqlite_frees_the_dead_process_leases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    store = SqlStore.from_url(url)
    now = datetime.now(UTC)
    write = CrmWrite("activity", "sms:SM1", CrmRef("Contact", "003000000000001"), {"body": "x"})
    try:
        with store.begin() as conn:
            crm_outbox.enqueue(conn, write, now)
            assert len(crm_outbox.claim(conn, "dead:1", 10, 300.0, now)) == 1
        with store.begin() as conn:  # leased for 5 minutes: nobody else can take it
            assert crm_outbox.claim(conn, "new:2", 10, 300.0, now + timedelta(seconds=1)) == []
        assert expire_dead_leases(store) == 1
        with store.begin() as conn:
            taken = crm_outbox.claim(conn, "new:2", 10, 300.0, datetime.now(UTC))
        assert [r.write.external_id for r in taken] == ["sms:SM1"]
        with store.begin() as conn:  # the dead holder can no longer settle it
            assert not crm_outbox.mark_done(conn, taken[0].id, "00T1", now, worker_id="dead:1")
    finally:
        store.close()
