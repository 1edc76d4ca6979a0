"""#15 part 6: `SMSYNC_SANDBOX_CLOCK_URL` makes a hand-run `smsync run` live on the
sandbox's clock: its jobs run (and are recorded) at the sandbox's time, and follow it when
it is moved; a clock URL that cannot be read stops the start with exit 2 and the fix.
`smsync send` decides on the same clock."""

from __future__ import annotations

import gc
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from connector.domain.model import ConsentStatus, ContactState, CrmRef, CrmWrite
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, contacts, crm_outbox
from connector.store.tables import crm_outbox as outbox_table
from connector.store.tables import ops_actions
from tests.cli_kit import ROOT, smsync
from tests.integration.test_runtime_service import Sidecar, free_port

PLAYS = ROOT / "tests" / "data" / "plays" / "scenario.yaml"
PINNED = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)  # a Tuesday, 15:00 in New York


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot", "twilio"), seed_contacts=10) as sb:
        yield sb
        gc.collect()


@pytest.fixture
def sidecars() -> Iterator[list[Sidecar]]:
    made: list[Sidecar] = []
    yield made
    for car in made:
        car.kill()


def _set_clock(sandbox: Sandbox, at: datetime) -> None:
    r = requests.post(
        f"{sandbox.urls['admin']}/__sandbox/clock",
        json={"set": at.isoformat(), "freeze": True},
        timeout=10,
    )
    r.raise_for_status()


def _latest_run(db: Path) -> datetime | None:
    """The start of the sidecar's latest recorded job run (its clock), if any yet."""
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute("SELECT max(started_at) FROM job_runs").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return None
    if row is None or row[0] is None:
        return None
    return datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC)


def _wait_run_near(db: Path, at: datetime, timeout: float = 30) -> datetime:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = _latest_run(db)
        if seen is not None and abs(seen - at) < timedelta(minutes=1):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"no job run near {at} (latest: {seen})")


def test_the_sidecar_runs_on_the_sandbox_clock_and_follows_it(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    _set_clock(sandbox, PINNED)
    db = tmp_path / "smsync.db"
    car = Sidecar(
        sandbox,
        db,
        SMSYNC_SANDBOX_CLOCK_URL=f"{sandbox.urls['admin']}/__sandbox/clock",
        SMSYNC_SEND_INTERVAL_S="0.5",
        SMSYNC_INGEST_INTERVAL_S="0.5",
    )
    sidecars.append(car)
    car.wait_healthy()
    _wait_run_near(db, PINNED)  # months before the wall clock: the sandbox's time
    later = PINNED + timedelta(hours=5)  # 20:00 in New York: quiet hours
    _set_clock(sandbox, later)
    _wait_run_near(db, later)
    code, _took, err = car.terminate()
    assert code == 0, err[-2000:]


def test_an_unreadable_clock_url_stops_the_start_with_the_fix(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/__sandbox/clock"
    car = Sidecar(sandbox, tmp_path / "smsync.db", SMSYNC_SANDBOX_CLOCK_URL=url)
    sidecars.append(car)
    _out, err = car.proc.communicate(timeout=60)
    assert car.proc.returncode == 2, err[-2000:]
    assert "SMSYNC_SANDBOX_CLOCK_URL" in err
    assert "Traceback" not in err


def _one_contact(tmp_path: Path) -> dict[str, str]:
    db = f"sqlite:///{tmp_path / 'send.db'}"
    assert smsync("db", "upgrade", env={"SMSYNC_DATABASE_URL": db}).returncode == 0
    store = SqlStore.from_url(db)
    try:
        with store.begin() as conn:
            person = ContactState(
                CrmRef("Contact", "003X"), "+12125550123", consent=ConsentStatus.OPTED_IN
            )
            contacts.upsert(conn, person, PINNED)
    finally:
        store.close()
    return {"SMSYNC_DATABASE_URL": db, "SMSYNC_PLAYS": str(PLAYS)}


def test_a_manual_send_decides_quiet_hours_on_the_sandbox_clock(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """`smsync send` beside a sidecar on the sandbox's clock applies the same quiet hours:
    the sandbox's 15:00 in New York sends, its 22:00 defers to 08:00 of its next day,
    whatever the wall clock says."""
    env = {
        **_one_contact(tmp_path),
        "SMSYNC_SANDBOX_CLOCK_URL": f"{sandbox.urls['admin']}/__sandbox/clock",
    }
    args = ("send", "--contact", "003X", "--play", "meeting_confirmation", "--dry-run")
    _set_clock(sandbox, PINNED)
    day = smsync(*args, env=env)
    assert day.returncode == 0, day.stderr[-2000:]
    assert json.loads(day.stdout)["verdict"] == "allow"
    _set_clock(sandbox, PINNED + timedelta(hours=7))  # 22:00 in New York
    night = json.loads(smsync(*args, env=env).stdout)
    assert night["verdict"] == "defer"
    assert [r["code"] for r in night["reasons"]] == ["quiet_hours"]
    assert "it is 22:00 there" in night["reasons"][0]["detail"]
    assert night["send_at"] == "2026-03-04T13:00:00+00:00"  # 08:00 the sandbox's next day


def test_a_manual_send_with_an_unreadable_clock_url_exits_2_with_the_fix(
    tmp_path: Path,
) -> None:
    env = {
        **_one_contact(tmp_path),
        "SMSYNC_SANDBOX_CLOCK_URL": f"http://127.0.0.1:{free_port()}/__sandbox/clock",
    }
    result = smsync(
        "send", "--contact", "003X", "--play", "meeting_confirmation", "--dry-run", env=env
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "SMSYNC_SANDBOX_CLOCK_URL: cannot read the clock" in result.stderr
    assert "Traceback" not in result.stderr


def test_operator_commands_act_on_the_sandbox_clock(sandbox: Sandbox, tmp_path: Path) -> None:
    """`failures retry` and `drop` record the sidecar's time (the audit trail and a dead
    write's end agree with the rows `smsync run` writes on the sandbox's clock), and
    `status` measures ages from it."""
    env = {
        **_one_contact(tmp_path),
        "SMSYNC_SANDBOX_CLOCK_URL": f"{sandbox.urls['admin']}/__sandbox/clock",
        "USER": "ops-tester",
    }
    url = env["SMSYNC_DATABASE_URL"]
    failing = CrmWrite("activity", "sms:SM1", CrmRef("Contact", "003X"), {"body": "hi"})
    store = SqlStore.from_url(url)
    try:
        with store.begin() as conn:
            crm_outbox.enqueue(conn, failing, PINNED - timedelta(minutes=10))
            conn.execute(sa.update(outbox_table).values(last_error="REQUEST_LIMIT_EXCEEDED"))
            row_id = conn.execute(sa.select(outbox_table.c.id)).scalar_one()
    finally:
        store.close()
    _set_clock(sandbox, PINNED)
    shown = smsync("status", "--json", env=env)
    status = json.loads(shown.stdout)
    assert abs(datetime.fromisoformat(status["at"]) - PINNED) < timedelta(minutes=1), status
    assert 590 <= status["lag"]["writeback_s"] <= 660, status["lag"]  # not months
    dropped = smsync("failures", "drop", f"crm-{row_id}", "--why", "test", env=env)
    assert dropped.returncode == 0, dropped.stderr[-2000:]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            at = conn.execute(sa.select(ops_actions.c.at)).scalar_one()
            ended = conn.execute(sa.select(outbox_table.c.done_at)).scalar_one()
    finally:
        engine.dispose()
    for instant in (at, ended):  # the audit trail and the write's end: the sandbox's time
        assert abs(instant.replace(tzinfo=UTC) - PINNED) < timedelta(minutes=1), instant


def _pulled_ok_after(db: Path, at: datetime, timeout: float = 45) -> None:
    """Wait for a pull that started at or after `at` (sandbox time) and ended ok."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT started_at, outcome, error FROM job_runs WHERE job = 'pull'"
            ).fetchall()
        done = [
            (outcome, error)
            for started, outcome, error in rows
            if datetime.fromisoformat(str(started)).replace(tzinfo=UTC) >= at
        ]
        if any(outcome == "ok" for outcome, _ in done):
            return
        time.sleep(0.2)
    raise AssertionError(f"no pull ok after {at}: {done}")


def test_a_sandbox_clock_ahead_of_the_wall_clock_still_logs_in(
    sandbox: Sandbox, tmp_path: Path, sidecars: list[Sidecar]
) -> None:
    """The sidecar dates its Salesforce JWT on its own clock: with the sandbox's clock
    hours ahead (moved forward by hand, as README shows), the start-up login and the
    re-login after the session's two hours both hold. Dated by the wall clock, the
    assertion had expired on the sandbox's clock and the start was refused. (A login in
    the second before the sidecar re-reads a moved clock can still be refused once; the
    next one holds.)"""
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    _set_clock(sandbox, ahead)
    db = tmp_path / "smsync.db"
    car = Sidecar(
        sandbox,
        db,
        SMSYNC_SANDBOX_CLOCK_URL=f"{sandbox.urls['admin']}/__sandbox/clock",
        SMSYNC_PULL_INTERVAL_S="1",
    )
    sidecars.append(car)
    car.wait_healthy()
    _pulled_ok_after(db, ahead)
    later = ahead + timedelta(hours=3)  # past the session's lifetime: a new login
    _set_clock(sandbox, later)
    _pulled_ok_after(db, later)
    code, _took, err = car.terminate()
    assert code == 0, err[-2000:]
