"""scripts/bench_http_limits.py at a small scale (issue 22, item 1): `smsync run` answers
unsigned 30 MB POSTs with 413 at once, its peak RSS within 20 MB of idle, while the
naive baseline (read the body, then check) grows by the body's size and more. The full
300 MB figure: `python scripts/bench_http_limits.py --mb 300 --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_oversized_bodies_cost_the_sidecar_no_memory() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_http_limits.py"), "--mb", "30", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    routes = {(c["route"], c["mode"]) for c in result["cases"]}
    assert ("/api/send", "length") in routes
    assert ("/webhooks/twilio/inbound", "chunked") in routes
    for case in result["cases"]:
        assert case["status"] == 413, case
        assert case["peak_growth_mb"] < 20, case
        assert case["seconds"] < 2, case
    # the measurement sees a body held in memory when there is one
    assert result["baseline_max_growth_mb"] > 30
