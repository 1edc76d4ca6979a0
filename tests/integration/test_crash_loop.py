"""scripts/crash_loop.py at a small scale (issue 7, acceptance 3): `smsync run` on SQLite,
SIGKILLed three times while replies arrive, loses nothing and doubles nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
