"""scripts/bench_pull_memory.py at a small scale: the JSON shape and a complete pull."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_first_pull_reports_its_peak_memory() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_pull_memory.py"),
            "--contacts",
            "300",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["contacts"] == 300
    assert result["pulled"] == 300  # every seeded person, once
    assert result["batches"] >= 1
    assert 0 < result["peak_rss_mb"] < 300
