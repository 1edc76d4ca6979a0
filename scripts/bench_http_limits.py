"""Memory and time of refusing oversized request bodies, in `smsync run` itself.

    python scripts/bench_http_limits.py --mb 300 --json

Starts the sandbox (Salesforce + Twilio) in this process and `smsync run` as a child
process, waits until it is idle, then sends unsigned POSTs of `--mb` megabytes to
`/webhooks/twilio/inbound` (declared Content-Length, and chunked) and to `/api/send`
(Content-Length), one after another. For each: the answer, the seconds until it came,
and how far the child's peak RSS rose above its idle RSS (the kernel's high-water mark,
reset before each POST through /proc/<pid>/clear_refs). The same POSTs go to a naive
baseline in its own child process: a Starlette route that reads the whole body, then
checks its size (what the sidecar did before).

The last line is one JSON object:
{mb, idle_rss_mb, cases: [{route, mode, status, seconds, peak_growth_mb}],
 baseline: [...same...], max_growth_mb, baseline_max_growth_mb, growth_ratio}."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from _harness import ROOT, SmsyncRun, free_port
from _memory import status_kb

from connector.sandbox.server import Sandbox

CHUNK = 64 * 1024
CASES = (
    ("/webhooks/twilio/inbound", "length"),
    ("/webhooks/twilio/inbound", "chunked"),
    ("/api/send", "length"),
)
NAIVE = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

async def handle(request: Request) -> Response:
    raw = await request.body()
    return Response(status_code=413 if len(raw) > 64 * 1024 else 200)

async def health(_: Request) -> Response:
    return Response("ok")

app = Starlette(routes=[
    Route("/healthz", health),
    Route("/webhooks/twilio/inbound", handle, methods=["POST"]),
    Route("/api/send", handle, methods=["POST"]),
])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def reset_peak(pid: int) -> None:
    """Reset the high-water mark (VmHWM) to the current RSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Zeros:
    """`size` bytes, produced as they are sent: the client never holds the body."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        n = CHUNK if n < 0 else min(n, CHUNK)
        n = min(n, self.size - self.sent)
        self.sent += n
        return b"a" * n

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.read():
            yield chunk


def post(base: str, route: str, mode: str, size: int) -> tuple[int | str, float]:
    session = requests.Session()
    session.trust_env = False
    body = Zeros(size)
    started = time.monotonic()
    try:
        reply = session.post(
            base + route,
            data=body if mode == "length" else body.chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=600,
            # the status line is the answer: the server closes the connection after its
            # 413 while the body still streams in, and reading the reply's own (empty) body
            # can then fail on the reset (ChunkedEncodingError, 1 run in a few hundred)
            stream=True,
        )
        outcome: int | str = reply.status_code
        reply.close()
    except requests.RequestException as exc:
        outcome = type(exc).__name__
    return outcome, time.monotonic() - started


def measure(base: str, pid: int, size: int) -> tuple[float, list[dict[str, Any]]]:
    # warm up every route once, so first-use imports and caches are part of idle
    for route, _ in CASES:
        post(base, route, "length", 10)
    time.sleep(1.0)
    idle_kb = status_kb(pid, "VmRSS")
    cases = []
    for route, mode in CASES:
        reset_peak(pid)
        before = status_kb(pid, "VmRSS")
        outcome, seconds = post(base, route, mode, size)
        time.sleep(0.2)  # let the server finish with the connection
        growth = (status_kb(pid, "VmHWM") - before) / 1024
        cases.append(
            {
                "route": route,
                "mode": mode,
                "status": outcome,
                "seconds": round(seconds, 3),
                "peak_growth_mb": round(growth, 1),
            }
        )
    return idle_kb / 1024, cases


def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the baseline server exited")
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the baseline server did not start")


def run(mb: int) -> dict[str, Any]:
    size = mb * 1024 * 1024
    with (
        tempfile.TemporaryDirectory(prefix="smsync-bench-http-") as tmp,
        Sandbox(vendors=("salesforce", "twilio"), seed_contacts=0) as sb,
    ):
        port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
        env = {
            **clean,
            **sb.env(),
            "SMSYNC_DATABASE_URL": f"sqlite:///{Path(tmp) / 'smsync.db'}",
            "SMSYNC_HTTP_PORT": str(port),
            "SMSYNC_API_TOKEN": "bench-token-123",
            "SMSYNC_LOG_FORMAT": "json",
            "SMSYNC_LOG_LEVEL": "error",
        }
        sidecar = SmsyncRun(env, port, Path(tmp) / "smsync.log")
        try:
            if not sidecar.wait_healthy():
                raise RuntimeError(f"smsync run did not start: {sidecar.tail()}")
            idle_mb, cases = measure(sidecar.base, sidecar.proc.pid, size)
        finally:
            sidecar.terminate()
        naive_port = free_port()
        naive = subprocess.Popen([sys.executable, "-c", NAIVE, str(naive_port)], cwd=ROOT)
        try:
            naive_base = f"http://127.0.0.1:{naive_port}"
            wait_up(naive_base, naive)
            _, baseline = measure(naive_base, naive.pid, size)
        finally:
            naive.terminate()
            naive.wait(timeout=30)
    worst = max(c["peak_growth_mb"] for c in cases)
    naive_worst = max(c["peak_growth_mb"] for c in baseline)
    return {
        "mb": mb,
        "idle_rss_mb": round(idle_mb, 1),
        "cases": cases,
        "baseline": baseline,
        "max_growth_mb": worst,
        "baseline_max_growth_mb": naive_worst,
        "growth_ratio": round(naive_worst / max(worst, 0.1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    result = run(args.mb)
    if not args.json:
        for case in result["cases"]:
            print(case)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
