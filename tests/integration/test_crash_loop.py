"""scripts/crash_loop.py at a small scale: `smsync run` on SQLite, SIGKILLed three times
while replies arrive, loses nothing and doubles nothing (issue 7, acceptance 3); and two
replicas on Postgres, the one holding claimed CRM writes SIGKILLed mid-batch, whose rows a
survivor takes over within one (shortened) lease and a tick (issue 22)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.store_fixtures import postgres_base_url, scratch_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigkills_lose_and_double_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "crash_loop.py"),
            "--events",
            "60",
            "--kills",
            "3",
            "--rate",
            "20",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, result
    assert result["events"] == 60
    assert result["kills"] >= 3
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["integrity"] == "ok"
    assert result["database"] == "sqlite"
    assert result["inbox_unprocessed"] == 0
    assert result["outbox_open"] == 0
    assert (result["inbox_dead"], result["outbox_dead"]) == (0, 0)  # restarts blame no row
    assert result["final_exit_code"] == 0


LEASE_S = 5.0  # SMSYNC_WRITEBACK_LEASE_S here (its minimum; default 30): beats every 1.7 s


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_replicas_claimed_crm_writes_are_taken_over_within_a_lease() -> None:
    with scratch_postgres(postgres_base_url()) as url:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "crash_loop.py"),
                *("--replicas", "2", "--writes", "300", "--contacts", "30"),
                *("--latency-ms", "1200", "--lease-s", str(LEASE_S), "--interval-s", "1"),
                *("--timeout", "120", "--database-url", url, "--json"),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            cwd=ROOT,
        )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["mode"] == "takeover", result
    assert result["in_flight"] > 0, result  # it died holding a claimed batch
    assert result["taken_over"] == result["in_flight"], result
    # one lease after its last heartbeat, plus a writeback tick and the survivor's claim
    assert result["takeover_max_s"] < LEASE_S + 5, result
    assert result["crm_missing"] == 0, result
    assert result["crm_duplicated"] == 0, result
    assert set(result["crm_outbox"]) == {"done"}, result
    assert result["ok"] is True, result
    assert done.returncode == 0, result
