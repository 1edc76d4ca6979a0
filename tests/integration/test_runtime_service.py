"""`smsync run` as an operator runs it: a real process against the sandbox and a temp
SQLite file. Readiness follows the CRM's auth, /metrics is scraped, SIGTERM (also during a
writeback batch) exits 0 within the timeout, a second replica on the same SQLite file is
refused, and a bad mapping, missing credentials, a vendor refusing them or a vendor out
of reach exit 2 before any database file exists."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
import requests
import sqlalchemy as sa

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import CrmRef, CrmWrite
from connector.sandbox.faults import FaultSpec
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox, make_engine
from connector.store.tables import crm_outbox as outbox_table
from tests.migrated import upgrade

ROOT = Path(__file__).resolve().parents[2]
BAD_MAPPING = ROOT / "tests" / "data" / "mappings" / "three_problems.yaml"
SHUTDOWN_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot", "twilio"), seed_contacts=30) as sb:
        yield sb
        gc.collect()


@pytest.fixture(autouse=True)
def _clean_sandbox(sandbox: Sandbox) -> None:
    sandbox.state.faults.clear()
    requests.post(
        f"{sandbox.urls['admin']}/__sandbox/salesforce/revoke", json={"revoked": False}, timeout=10
    )
    requests.post(
        f"{sandbox.urls['admin']}/__sandbox/hubspot/token", json={"revoked": False}, timeout=10
    )


class Sidecar:
    """One `smsync run` process."""

    def __init__(self, sb: Sandbox, db: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
        self.env = {
            **clean,
            **sb.env(),
            "SMSYNC_DATABASE_URL": f"sqlite:///{db}",
            "SMSYNC_HTTP_PORT": str(self.port),
            "SMSYNC_READY_CACHE_S": "0",
            "SMSYNC_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
            "SMSYNC_LOG_FORMAT": "json",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"smsync run exited early: {self.proc.communicate()}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # a busy machine is slow
                time.sleep(0.05)
        raise AssertionError("smsync run did not become healthy")

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=30)

    def terminate(self) -> tuple[int, float, str]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=SHUTDOWN_TIMEOUT_S + 30)
        return self.proc.returncode, time.monotonic() - started, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def sidecars() -> Iterator[list[Sidecar]]:
    made: list[Sidecar] = []
    yield made
    for car in made:
        car.kill()


def test_readyz_follows_crm_auth_and_sigterm_exits_0(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    car = Sidecar(sandbox, tmp_path / "var" / "smsync.db")
    sidecars.append(car)
    car.wait_healthy()
    assert car.get("/healthz").json() == {"status": "ok"}
    assert car.get("/readyz").status_code == 200
    admin = sandbox.urls["admin"]
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": True}, timeout=10)
    reply = car.get("/readyz")
    assert reply.status_code == 503
    checks = reply.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["sms"] == "ok"
    assert "AuthError" in checks["crm"]
    assert sandbox.credentials.sf_client_secret not in reply.text
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": False}, timeout=10)
    assert car.get("/readyz").status_code == 200
    metrics = car.get("/metrics").text
    for name in ("smsync_outbox_depth", "smsync_sla_timers_open", "smsync_job_runs_total"):
        assert f"# TYPE {name}" in metrics
    assert 'smsync_ready{check="crm"} 1.0' in metrics
    code, took, err = car.terminate()
    assert code == 0, err[-2000:]
    assert took < SHUTDOWN_TIMEOUT_S
    assert "runtime.stopped" in err
    assert "Traceback" not in err


def test_readyz_on_hubspot_follows_the_token(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    car = Sidecar(
        sandbox,
        tmp_path / "smsync.db",
        SMSYNC_CRM="hubspot",
        SMSYNC_MAPPINGS=str(ROOT / "mappings" / "hubspot.yaml"),
    )
    sidecars.append(car)
    car.wait_healthy()
    admin = sandbox.urls["admin"]
    requests.post(f"{admin}/__sandbox/hubspot/token", json={"revoked": True}, timeout=10)
    reply = car.get("/readyz")
    assert reply.status_code == 503
    assert "HubSpot refused our credentials" in reply.json()["checks"]["crm"]
    requests.post(f"{admin}/__sandbox/hubspot/token", json={"revoked": False}, timeout=10)
    assert car.get("/readyz").status_code == 200
    code, _, err = car.terminate()
    assert code == 0, err[-2000:]


def test_a_second_replica_on_the_same_sqlite_file_is_refused(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    db = tmp_path / "smsync.db"
    first = Sidecar(sandbox, db)
    sidecars.append(first)
    first.wait_healthy()
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    second = Sidecar(sandbox, db)
    sidecars.append(second)
    _, err = second.proc.communicate(timeout=60)
    assert second.proc.returncode == 2
    assert "single-replica" in err
    assert "Traceback" not in err
    after = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    assert [(n, s) for n, s, _ in after if n.endswith(".lock")] == [
        (n, s) for n, s, _ in before if n.endswith(".lock")
    ]
    assert first.proc.poll() is None  # the first one is untouched
    assert first.terminate()[0] == 0


def test_a_bad_mapping_exits_2_with_located_errors_and_no_database(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    db = tmp_path / "var" / "smsync.db"
    car = Sidecar(sandbox, db, SMSYNC_MAPPINGS=str(BAD_MAPPING))
    sidecars.append(car)
    _, err = car.proc.communicate(timeout=60)
    assert car.proc.returncode == 2
    located = [line for line in err.splitlines() if line.startswith(f"{BAD_MAPPING}:")]
    assert len(located) == 3
    assert located[0].split(":")[1:3] == ["7", "5"]
    assert not db.exists()
    assert not db.parent.exists()


def refused_start(car: Sidecar, db: Path) -> str:
    """The sidecar's stderr, once it has exited 2 without a traceback or a database."""
    _, err = car.proc.communicate(timeout=60)
    assert car.proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err
    assert not db.exists()
    assert not db.parent.exists()
    return err


def test_missing_credentials_exit_2_naming_each_before_the_database(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    """Empty values are unset: no Salesforce flow is complete and Twilio has no token."""
    db = tmp_path / "var" / "smsync.db"
    empty = dict.fromkeys(("SF_PASSWORD", "SF_JWT_KEY_FILE", "SF_CLIENT_SECRET"), "")
    car = Sidecar(sandbox, db, **empty, TWILIO_AUTH_TOKEN="")
    sidecars.append(car)
    err = refused_start(car, db)
    assert "missing settings: TWILIO_AUTH_TOKEN" in err
    assert "missing settings: SF_CLIENT_SECRET for the Salesforce client credentials login" in err


def test_a_vendor_refusing_the_credentials_stops_the_start(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    admin = sandbox.urls["admin"]
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": True}, timeout=10)
    db = tmp_path / "var" / "smsync.db"
    car = Sidecar(sandbox, db)
    sidecars.append(car)
    err = refused_start(car, db)
    assert "start-up check failed; nothing was migrated or served" in err
    assert "Salesforce refused the jwt login" in err
    assert "check SF_CLIENT_ID, SF_USERNAME" in err
    assert "SMSYNC_STARTUP_CHECKS=warn" in err
    assert sandbox.credentials.sf_client_secret not in err


def test_an_unreachable_vendor_stops_the_start_naming_the_host(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    # The port stays bound, never listening, for the whole test: a connection is refused at
    # once, and no server of a test running beside this one can be given it meanwhile
    # (a freed port was, and the check then timed out instead of being refused).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = int(held.getsockname()[1])
        db = tmp_path / "var" / "smsync.db"
        car = Sidecar(sandbox, db, TWILIO_BASE_URL=f"http://127.0.0.1:{port}")
        sidecars.append(car)
        err = refused_start(car, db)
    assert f"Twilio: cannot reach 127.0.0.1:{port} (ConnectionError)" in err
    assert "check TWILIO_BASE_URL" in err


@pytest.mark.parametrize(
    ("mode", "event"),
    [("warn", "startup.vendor_problem"), ("off", "startup.vendor_checks_skipped")],
)
def test_startup_checks_warn_or_off_start_anyway_and_readyz_tells(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar], mode: str, event: str
) -> None:
    admin = sandbox.urls["admin"]
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": True}, timeout=10)
    car = Sidecar(sandbox, tmp_path / "smsync.db", SMSYNC_STARTUP_CHECKS=mode)
    sidecars.append(car)
    car.wait_healthy()
    reply = car.get("/readyz")
    assert reply.status_code == 503
    assert "Salesforce refused" in reply.json()["checks"]["crm"]
    code, _, err = car.terminate()
    assert code == 0, err[-2000:]
    assert event in err


def test_hubspot_with_oauth_alone_is_ready(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    """No private-app token: the start-up check, /readyz and the adapter share one OAuth
    token source, so the sandbox's rotating refresh token is refreshed once, not thrice."""
    c = sandbox.credentials
    car = Sidecar(
        sandbox,
        tmp_path / "smsync.db",
        SMSYNC_CRM="hubspot",
        SMSYNC_MAPPINGS=str(ROOT / "mappings" / "hubspot.yaml"),
        HUBSPOT_ACCESS_TOKEN="",
        HUBSPOT_CLIENT_ID=c.hubspot_oauth_client_id,
        HUBSPOT_CLIENT_SECRET=c.hubspot_oauth_client_secret,
        HUBSPOT_REFRESH_TOKEN=c.hubspot_oauth_refresh_token,
    )
    sidecars.append(car)
    car.wait_healthy()
    for _ in range(2):
        reply = car.get("/readyz")
        assert reply.status_code == 200, reply.text
    code, _, err = car.terminate()
    assert code == 0, err[-2000:]
    assert "AuthError" not in err


def activity(target: CrmRef, n: int) -> CrmWrite:
    sid = f"SM{n:032x}"
    return CrmWrite(
        "activity",
        f"sms:{sid}",
        target,
        {
            "message_sid": sid,
            "direction": "inbound",
            "body": f"reply {n}",
            "at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
            "status": "received",
        },
    )


def outbox_states(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox_table.c.state, sa.func.count()).group_by(outbox_table.c.state)
            )
            return {str(state): int(n) for state, n in rows}
    finally:
        engine.dispose()


def test_sigterm_during_a_writeback_batch_finishes_it_and_exits_0(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "smsync.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    from connector.config import load_settings

    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    crm = SalesforceCrm.from_settings(load_settings(), mapping)
    targets = [s.ref for b in crm.pull(None) for s in b.contacts][:10]
    crm.close()
    writes = [activity(targets[n % len(targets)], n) for n in range(120)]
    store = SqlStore.from_url(url)
    with store.begin() as conn:
        for write in writes:
            crm_outbox.enqueue(conn, write, datetime.now(UTC))
    store.close()
    # each composite call now takes 1.5 s: the batch is still in flight when SIGTERM lands
    sandbox.state.faults.set("salesforce", FaultSpec.model_validate({"latency_ms": 1500}))
    car = Sidecar(sandbox, db)
    sidecars.append(car)
    deadline = time.monotonic() + 30
    while outbox_states(url).get("claimed", 0) == 0:
        assert time.monotonic() < deadline, "writeback never claimed the rows"
        time.sleep(0.02)
    code, took, err = car.terminate()
    assert code == 0, err[-2000:]
    assert took < SHUTDOWN_TIMEOUT_S
    states = outbox_states(url)
    assert states.get("claimed", 0) == 0, states  # the batch in flight settled
    assert states.get("done", 0) > 0
    sandbox.state.faults.clear()
    # a restart finishes the rest; each write exists once in the CRM
    again = Sidecar(sandbox, db)
    sidecars.append(again)
    again.wait_healthy()
    deadline = time.monotonic() + 60
    while outbox_states(url).get("done", 0) < len(writes):
        assert time.monotonic() < deadline, outbox_states(url)
        time.sleep(0.1)
    assert again.terminate()[0] == 0
    emulator = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    for write in writes[:: len(writes) // 12]:
        sid = write.fields["message_sid"]
        found = emulator.find("Task", "SMS_Message_Id__c", write.external_id) or emulator.find(
            "Task", "SMS_Message_Id__c", str(sid)
        )
        assert len(found) == 1, (write.external_id, found)


def _people(sandbox: Sandbox) -> list[CrmRef]:
    emulator = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    return [CrmRef("Contact", str(row["Id"])) for row in emulator.store.rows("Contact").values()]


def _queue(url: str, writes: list[CrmWrite]) -> None:
    store = SqlStore.from_url(url)
    with store.begin() as conn:
        for write in writes:
            assert crm_outbox.enqueue(conn, write, datetime.now(UTC))
    store.close()


def _metric(car: Sidecar, line_start: str) -> float:
    for line in car.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _until(what: str, test: Callable[[], bool], timeout: float) -> float:
    """Seconds until `test()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not test():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_crm_writes_resume_within_30_s_of_the_credentials_coming_back(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    """Issue 22: revoked Salesforce credentials stop writeback; once they are restored the
    paused writeback's own probe (every 10 s) writes again, and `/readyz` seeing the CRM
    come back makes it probe at once."""
    db = tmp_path / "smsync.db"
    url = f"sqlite:///{db}"
    car = Sidecar(sandbox, db, SMSYNC_WRITEBACK_INTERVAL_S="1")
    sidecars.append(car)
    car.wait_healthy()
    admin = sandbox.urls["admin"]
    emulator = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    people = _people(sandbox)
    stops = 'smsync_crm_write_stops_total{crm="salesforce",reason="auth"}'

    def written(write: CrmWrite) -> Callable[[], bool]:
        return lambda: bool(emulator.find("Task", "SMS_Message_Id__c", write.external_id))

    # 1. revoked: the writes are refused and wait; restored: the probe finds out by itself
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": True}, timeout=10)
    first = [activity(people[n % len(people)], 9000 + n) for n in range(5)]
    _queue(url, first)
    _until("writeback stopped on auth", lambda: _metric(car, stops) >= 1, 30)
    assert not any(written(w)() for w in first)
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": False}, timeout=10)
    recovered_s = _until("the first CRM write after restoring", written(first[0]), 30)
    assert recovered_s < 30
    _until("every write", lambda: all(written(w)() for w in first), 30)

    # 2. again, but /readyz sees the CRM come back: the paused writeback probes at once
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": True}, timeout=10)
    second = [activity(people[n % len(people)], 9100 + n) for n in range(5)]
    _queue(url, second)
    _until("writeback stopped on auth again", lambda: _metric(car, stops) >= 2, 30)
    assert car.get("/readyz").status_code == 503
    requests.post(f"{admin}/__sandbox/salesforce/revoke", json={"revoked": False}, timeout=10)
    assert car.get("/readyz").status_code == 200
    hooked_s = _until("the first CRM write after /readyz", written(second[0]), 30)
    assert hooked_s < 5  # not the probe's 10 s turn
    _until("every write", lambda: all(written(w)() for w in second), 30)
    store = SqlStore.from_url(url)

    def settled() -> list[tuple[str, int]]:
        with store.begin() as conn:
            rows = [crm_outbox.get(conn, w.external_id) for w in first + second]
        return [(r.state, r.attempts) for r in rows if r is not None]

    _until("every row settled", lambda: all(state == "done" for state, _ in settled()), 30)
    assert settled() == [("done", 1)] * 10  # a stop is not an attempt
    store.close()
    code, _, err = car.terminate()
    assert code == 0, err[-2000:]
    assert '"event": "writeback.resumed"' in err


def _contact_rows(db: Path, crm_id: str) -> int:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT count(*) FROM contact_state WHERE crm_id = :id")
            return int(conn.execute(query, {"id": crm_id}).scalar_one())
    except sa.exc.OperationalError:  # the table is not there yet
        return 0
    finally:
        engine.dispose()


def test_hubspot_oauth_keeps_the_rotated_refresh_token_across_a_restart(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    """HubSpot rotates the refresh token on each refresh (the sandbox always does), so the
    HUBSPOT_REFRESH_TOKEN a restart reads from the environment is dead by then: only the
    pair the store-backed vault kept lets the second process start and sync."""
    hubspot = cast("HubSpotEmulator", sandbox.emulators["hubspot"])
    hubspot.oauth.reset()  # the refresh token in the environment is the live one again
    c = sandbox.credentials
    oauth = {
        "SMSYNC_CRM": "hubspot",
        "SMSYNC_MAPPINGS": str(ROOT / "mappings" / "hubspot.yaml"),
        "HUBSPOT_ACCESS_TOKEN": "",
        "HUBSPOT_CLIENT_ID": c.hubspot_oauth_client_id,
        "HUBSPOT_CLIENT_SECRET": c.hubspot_oauth_client_secret,
        "HUBSPOT_REFRESH_TOKEN": c.hubspot_oauth_refresh_token,
    }
    db = tmp_path / "smsync.db"
    first = Sidecar(sandbox, db, **oauth)
    sidecars.append(first)
    first.wait_healthy()
    admin = f"{sandbox.urls['admin']}/__sandbox/hubspot/oauth"
    expired = requests.post(admin, json={"expire_access": True}, timeout=10).json()
    assert expired["expired"] is True
    assert first.get("/readyz").status_code == 200  # refreshed again: rotated once more
    assert requests.get(admin, timeout=10).json()["exchanges"] >= 2
    assert hubspot.oauth.refresh_token != c.hubspot_oauth_refresh_token
    code, _, err = first.terminate()
    assert code == 0, err[-2000:]

    # while it is down, a new contact is created in HubSpot
    env = sandbox.env()
    http = requests.Session()
    http.trust_env = False
    http.verify = env["SMSYNC_CA_FILE"]
    created = http.post(
        f"{env['HUBSPOT_BASE_URL']}/crm/v3/objects/contacts",
        headers={"Authorization": f"Bearer {c.hubspot_token}"},
        json={"properties": {"firstname": "Restart", "mobilephone": "+12125550177"}},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    new_id = str(created.json()["id"])
    assert _contact_rows(db, new_id) == 0

    second = Sidecar(sandbox, db, **oauth)
    sidecars.append(second)
    second.wait_healthy()  # the start-up check used the kept pair, not the dead one
    assert second.get("/readyz").status_code == 200
    _until("the new contact is pulled", lambda: _contact_rows(db, new_id) == 1, timeout=60)
    code, _, err = second.terminate()
    assert code == 0, err[-2000:]
    assert "AuthError" not in err


def _mapping_with_an_unknown_escalation_owner(tmp_path: Path) -> tuple[Path, int]:
    text = (ROOT / "mappings" / "salesforce.yaml").read_text()
    old = "escalation_owner_id: 005000000000009AAA"
    assert text.count(old) == 1
    text = text.replace(old, "escalation_owner_id: 005000000000066AAA")
    path = tmp_path / "salesforce.yaml"
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "000066AAA" in row)
    return path, line


def test_config_check_strict_refuses_to_start_naming_the_unknown_id(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    mapping, line = _mapping_with_an_unknown_escalation_owner(tmp_path)
    db = tmp_path / "var" / "smsync.db"
    car = Sidecar(sandbox, db, SMSYNC_MAPPINGS=str(mapping), SMSYNC_CONFIG_CHECK="strict")
    sidecars.append(car)
    err = refused_start(car, db)
    assert f"{mapping}:{line}:" in err
    assert "`005000000000066AAA` (the escalation owner) is no user or queue" in err


def test_config_check_warn_starts_and_logs_each_problem(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    mapping, line = _mapping_with_an_unknown_escalation_owner(tmp_path)
    car = Sidecar(sandbox, tmp_path / "smsync.db", SMSYNC_MAPPINGS=str(mapping))
    sidecars.append(car)
    car.wait_healthy()
    code, _, err = car.terminate()
    assert code == 0, err[-2000:]
    problems = [row for row in err.splitlines() if "startup.config_problem" in row]
    assert len(problems) == 1, err[-3000:]
    assert f"{mapping}:{line}:" in problems[0]
