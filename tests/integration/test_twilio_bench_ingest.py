"""scripts/bench_ingest.py end to end at a small scale: the JSON shape, not the timing (the
e2e pass runs `smsync run` against the sandbox, so every figure is measured)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "events",
    "wall_s",
    "events_per_s",
    "intake_p50_ms",
    "intake_p95_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "cpu_ms_per_event",
    "peak_rss_mb",
}


def test_the_last_line_is_the_json_summary() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_ingest.py"), "--events", "40", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS
    assert result["events"] == 40
    assert result["inbox_rows"] == 40  # every webhook committed, once
    for key in ("wall_s", "events_per_s", "intake_p50_ms", "intake_p95_ms", "peak_rss_mb"):
        assert result[key] > 0
    assert result["intake_p50_ms"] <= result["intake_p95_ms"]
    assert result["cpu_ms_per_event"] > 0
    # e2e: webhook -> smsync run -> activity held by the sandbox CRM, for every event
    assert result["e2e_p50_ms"] > 0
    assert result["e2e_p95_ms"] > 0
    assert result["e2e_p50_ms"] <= result["e2e_p95_ms"]
    assert result["e2e_p50_ms"] >= result["intake_p50_ms"]  # it includes the intake
    assert "e2e" in result["note"]


def test_a_paced_run_reports_its_rate() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_ingest.py"),
            "--events",
            "20",
            "--rate",
            "200",
            "--concurrency",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rate"] == 200
    assert result["events"] == 20
    assert result["wall_s"] >= 19 / 200  # paced, not a burst
    assert result["e2e_p95_ms"] > 0
