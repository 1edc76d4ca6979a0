"""The sandbox latency benchmark runs and reports every figure (timing is judged by the
script's own numbers, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sandbox_small_run_reports_every_endpoint() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_sandbox.py"), "--calls", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "bare_starlette",
        "salesforce_get",
        "salesforce_patch",
        "hubspot_get",
        "hubspot_patch",
        "twilio_create",
        "twilio_fetch",
    ):
        assert figures[key]["p50_ms"] > 0
        assert figures[key]["p95_ms"] >= figures[key]["p50_ms"]
    assert isinstance(figures["added_within_2ms_p50"], bool)
