"""Acceptance 3: `smsync report --html` writes one self-contained file that works offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.report.html import to_html
from connector.report.queries import GroupBy, Scope, build_report
from connector.store import SqlStore
from tests.integration import chromium_kit as offline
from tests.integration import report_kit as kit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHARTS = [
    "Funnel: texted, replied, meeting, opportunity, won",
    "Rates by group (over contacts texted)",
    "Rep first response time",
    "Pipeline influenced by group",
    "Outcome conversion by play",
    "Lift vs holdout with 95% interval",
    "Opt-out rate by day of first text",
]


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
    assert titles == CHARTS
    assert "no data" not in page  # every section of this dataset has data, so a chart
    assert page.count('class="bar"') >= 3 + 7 + 2  # funnel steps, histogram, play bars
    assert page.count('class="r2"') == 3 + 1  # a meeting-rate bar per group, and the key
    # speed: conversion, reply, meeting and opportunity
    assert page.count('<circle class="ci small"') == 4
    assert "<polyline" in page
    assert "speed" in page
    assert "too small" in page  # the lift of 10 vs 5 contacts is flagged
    assert "By team" in page
    assert "overall" not in page
    assert "<td>replied</td><td>5</td><td>35.7%</td>" in page  # the funnel, readable


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
    assert data["total"]["population"] == "contacts texted in the period"
    assert [s["step"] for s in data["funnel"]] == [
        "texted",
        "replied",
        "meeting",
        "opportunity",
        "won",
    ]
    assert data["inbound_only_opt_outs"] == 2
    assert {g["key"] for g in data["groups"]} == {"ae", "sdr"}
    assert data["by"] == "team"
    assert_self_contained(out.read_text(encoding="utf-8"))
    table = smsync(*args, env=env)
    assert table.returncode == 0, table.stderr
    assert "sdr" in table.stdout
    assert "Opt-outs by day of first text" in table.stdout
    bad = smsync("report", "--by", "planet", env=env)
    assert bad.returncode == 2
    assert "--by must be one of" in bad.stderr


def test_html_renders_in_headless_chromium(store: SqlStore, tmp_path: Path) -> None:
    """The page renders offline (every fetch refused, the net log shows none asked for),
    and each chart alone draws something: its screenshot has many distinct pixel rows."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; apt-get install chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    with store.begin() as conn:
        kit.build(conn)
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, GroupBy.PLAY), kit.OUTCOMES)
    page = tmp_path / "report.html"
    html = to_html(report)
    page.write_text(html, encoding="utf-8")
    drawn, requested = offline.screenshot(page, tmp_path, "report")
    assert requested == set()
    assert drawn > 200
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)
    assert len(svgs) == len(CHARTS)
    for i, svg in enumerate(svgs):
        alone = tmp_path / f"chart{i}.html"
        alone.write_text(f"<html><body style='margin:0'>{svg}</body></html>", encoding="utf-8")
        rows, _ = offline.screenshot(alone, tmp_path, f"chart{i}", size="700,400")
        assert rows > 20, f"{CHARTS[i]} looks blank ({rows} distinct rows)"
    dom = offline.dump_dom(page, tmp_path)
    assert re.findall(r'<svg [^>]*aria-label="([^"]+)"', dom) == CHARTS
    assert "no data" not in dom
