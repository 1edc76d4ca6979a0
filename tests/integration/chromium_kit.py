"""Headless Chromium with the network cut off, for the HTML report tests: a screenshot's
distinct pixel rows (a blank page has one or two) and the URLs the page asked for."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Every way Chromium could reach out is closed; a request the page made would then show
# up as a failed load in the net log.
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
]


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSYNC_", "SF_", "TWILIO_"))}
    return {**env, "COLUMNS": "120", "HOME": str(tmp_path), **extra}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, env=env, cwd=cwd, check=False
    )


def distinct_rows(data: bytes) -> int:
    """How many different (filtered) pixel rows an 8-bit PNG (Chromium's) has.

    No unfiltering, as there is no image library here: a uniform page has one or two
    distinct rows whatever the filter, a page with text and charts has hundreds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, height = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            (height,) = struct.unpack(">I", body[4:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    return len({raw[i * stride : (i + 1) * stride] for i in range(height)})


def page_requests(netlog: Path) -> set[str]:
    """URLs the page (not the browser's own background services) asked the network for.

    Chromium's net log marks its own requests (component updates, time sync, accounts)
    with the initiator "not an origin"; anything a page loads carries the page's origin."""
    text = netlog.read_text(encoding="utf-8").rstrip().rstrip(",")
    log = json.loads(text if text.endswith("}") else text + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and "url" in e.get("params", {})  # the job's begin event (its end has no URL)
        and e["params"].get("initiator") != "not an origin"
    }


def screenshot(
    page: Path, tmp_path: Path, name: str, size: str = "1000,1600"
) -> tuple[int, set[str]]:
    """Screenshot `page` offline: the PNG's distinct rows, and what the page requested."""
    shot, netlog = tmp_path / f"{name}.png", tmp_path / f"{name}.net.json"
    done = run(
        [
            str(CHROMIUM),
            *OFFLINE,
            f"--user-data-dir={tmp_path / f'{name}-profile'}",
            f"--log-net-log={netlog}",
            f"--window-size={size}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        env(tmp_path),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return distinct_rows(shot.read_bytes()), page_requests(netlog)


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after rendering, offline."""
    done = run(
        [str(CHROMIUM), *OFFLINE, f"--user-data-dir={tmp_path / 'dom-profile'}", "--dump-dom",
         page.as_uri()],
        env(tmp_path),
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
