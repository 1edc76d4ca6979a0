"""The timed-scan benchmark, small: on SQLite and Postgres the indexed scan finds the same
signals as the full scan it replaced, reads only the due contacts, and is faster."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.store_fixtures import postgres_base_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_small_bench_finds_the_same_signals_faster(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_timed", ROOT / "scripts" / "bench_timed.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--contacts", "20000", "--due", "40", "--db", db, "--json"]
    if db == "postgres":
        args += ["--pg-url", postgres_base_url()]
    assert bench.main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])[db]
    assert result["same"] is True
    assert result["signals"] == 40  # exactly the seeded meetings, nothing else in the window
    assert result["index_rows"] > 20000  # most contacts watch more than one trigger
    assert result["run_sends_planned"] > 30  # the due ones are planned (a 5% holdout aside)
    assert result["scan_s"] < result["baseline_scan_s"]
