"""#15 part 6: `SMSYNC_SANDBOX_CLOCK_URL` makes a hand-run `smsync run` live on the
sandbox's clock: its jobs run (and are recorded) at the sandbox's time, and follow it when
it is moved; a clock URL that cannot be read stops the start with exit 2 and the fix."""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connector.sandbox.server import Sandbox
from tests.integration.test_runtime_service import Sidecar, free_port

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
