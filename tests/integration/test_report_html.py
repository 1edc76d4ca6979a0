"""Acceptance 3: `smsync report --html` writes one self-contained file that works offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.report.queries import GroupBy, Scope, build_report
from connector.report.render import to_html
from connector.store import SqlStore
from tests.integration import report_kit as kit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


def smsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=120,
        check=False,
    )


def assert_self_contained(page: str) -> None:
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "url(" not in page  # no CSS fetches either
    assert "default-src 'none'" in page  # and the browser is told to fetch nothing


def test_html_is_self_contained_with_three_charts(store: SqlStore) -> None:
    with store.begin() as conn:
        kit.build(conn)
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.TEAM), kit.OUTCOMES)
    page = to_html(report)
    assert_self_contained(page)
    titles = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
    assert titles == [
        "Response time distribution",
        "Conversion by play, with holdout lift and 95% interval",
        "Opt-out rate per day",
    ]
    assert page.count('class="bar"') >= 7 + 2  # histogram buckets and play bars
    assert "<polyline" in page
    assert "speed" in page
    assert "too small" in page  # the lift of 10 vs 5 contacts is flagged


def test_cli_writes_html_and_json(store: SqlStore, migrated_url: str, tmp_path: Path) -> None:
    with store.begin() as conn:
        kit.build(conn)
    out = tmp_path / "out" / "report.html"
    env = {"SMSYNC_DATABASE_URL": migrated_url}
    args = ("report", "--since", "2024-03-01", "--until", "2024-03-08", "--by", "team")
    result = smsync(*args, "--json", "--html", str(out), env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"]["attempted"] == 24
    assert {g["key"] for g in data["groups"]} == {"ae", "sdr"}
    assert data["by"] == "team"
    assert_self_contained(out.read_text(encoding="utf-8"))
    table = smsync(*args, env=env)
    assert table.returncode == 0, table.stderr
    assert "sdr" in table.stdout
    assert "Opt-outs per day" in table.stdout
    bad = smsync("report", "--by", "planet", env=env)
    assert bad.returncode == 2
    assert "--by must be one of" in bad.stderr


def test_html_renders_in_headless_chromium(store: SqlStore, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; apt-get install chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    with store.begin() as conn:
        kit.build(conn)
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL), kit.OUTCOMES)
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    shot = tmp_path / "shot.png"
    browser = shutil.which(str(CHROMIUM)) or str(CHROMIUM)
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1000,1400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # charts drawn, not a blank page
    dumped = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dumped.stdout.count("<svg") == 3
