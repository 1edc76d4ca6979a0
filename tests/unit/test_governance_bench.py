"""The governance benchmark runs and prints its figures as one JSON object last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_prints_one_json_object_last() -> None:
    script = ROOT / "scripts" / "bench_governance.py"
    out = subprocess.run(
        [sys.executable, str(script), "--decisions", "500", "--contacts", "50", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) >= {"decisions", "contacts", "wall_s", "decisions_per_s", "verdicts"}
    assert result["decisions"] == 500
    assert sum(result["verdicts"].values()) == 500
    assert result["decisions_per_s"] > 0
