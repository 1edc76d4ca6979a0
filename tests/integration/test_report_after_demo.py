"""Issue 10 acceptance 3: `smsync demo` then `smsync report --html out/report.html` gives a
file that renders in headless Chromium with the network cut off: a screenshot that is not
blank, every SVG chart in the rendered DOM, and nothing asked of the network."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.integration import chromium_kit as offline

ROOT = Path(__file__).resolve().parents[2]
SMSYNC = ROOT / ".venv" / "bin" / "smsync"
CHROMIUM = Path("/usr/bin/chromium")
CHARTS = [
    "Funnel: texted, replied, meeting, opportunity, won",
    "Rates by group (over contacts texted)",
    "Rep first response time",
    "Pipeline influenced by group",
    "Outcome conversion by play",
    "Lift vs holdout with 95% interval",
    "Variant differences with 95% interval",  # the shipped speed_to_lead has two variants
    "Opt-out rate by day of first text",
]


@pytest.mark.slow
def test_demo_then_report_html_renders_offline(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; apt-get install chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    started = time.monotonic()
    db = tmp_path / "demo.db"
    demo = offline.run(
        [str(SMSYNC), "demo", "--contacts", "60", "--keep-db", str(db)],
        offline.env(tmp_path),
        tmp_path,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert db.is_file()

    url = f"sqlite:///{db}"
    report = offline.run(
        [str(SMSYNC), "report", "--by", "play", "--html", "out/report.html"],
        offline.env(tmp_path, SMSYNC_DATABASE_URL=url),
        tmp_path,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    page = tmp_path / "out" / "report.html"
    html = page.read_text(encoding="utf-8")
    # nothing external to fetch: no URL, script, src/href or CSS url(), and a CSP of none
    assert not re.search(r"https?://", html)
    assert "<script" not in html
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "url(" not in html
    assert "default-src 'none'" in html
    assert "speed_to_lead" in html  # the demo's plays are reported

    drawn, requested = offline.screenshot(page, tmp_path, "report")
    assert requested == set()

    # the same checks see a blank page that fetches something (so they are not vacuous)
    control = tmp_path / "control.html"
    control.write_text(
        '<html><head><link rel="stylesheet" href="http://example.com/x.css"></head></html>'
    )
    blank, fetched = offline.screenshot(control, tmp_path, "control")
    assert fetched == {"http://example.com/x.css"}
    assert blank <= 3
    assert drawn > 200

    dom = offline.run(
        [
            str(CHROMIUM),
            *offline.OFFLINE,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--dump-dom",
            page.as_uri(),
        ],
        offline.env(tmp_path),
        tmp_path,
    )
    assert dom.returncode == 0, dom.stderr[-3000:]
    labels = re.findall(r'<svg [^>]*aria-label="([^"]+)"', dom.stdout)
    assert labels == CHARTS
    # a conversion bar per play the demo texted with, and the opt-out trend line (the
    # demo's reps never answer in time, so the response-time chart may say "no data")
    assert dom.stdout.count('class="bar"') >= 2
    assert "<polyline" in dom.stdout
    assert time.monotonic() - started < 60
