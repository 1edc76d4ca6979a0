"""Tracked-link redirect speed: GET /l/{token} over real HTTP to the link app (uvicorn, in
its own process, SQLite), each a person's first click on its own link, so every request
records a counted click before its 302 goes back.

    python scripts/bench_clicks.py --clicks 3000 [--concurrency C] --json

Two passes in the same run, on fresh databases seeded alike: `grouped`, the sidecar as
shipped (clicks that arrive while a commit runs are committed together:
connector/runtime/group_commit.py), and `naive`, the same route committing each click in
its own transaction. Latency runs per request from its write on the socket to the 302.
Every click must be a 302 to its link's destination and stored exactly once, or the run
fails.

The last line is one JSON object: {clicks, clicks_per_s, p50_ms, p95_ms, naive_clicks_per_s,
naive_p95_ms, speedup, server_cpu_ms_per_click, ...}. The server's CPU per click is its own
process time, which other load on a shared machine hardly moves; the rates are wall-clock
and do move with it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
DESTINATION = "https://acme.example/pricing?utm_source=sms&utm_campaign=bench"
TARGET_PER_S = 1000
TARGET_P95_MS = 20.0


def serve(db_url: str, mode: str, stats_file: Path) -> None:
    """The link app on a free loopback port; prints the port; on SIGINT writes the CPU
    seconds it used after start-up (a figure that other load on the machine hardly moves)."""
    import uvicorn

    from connector.logs import configure
    from connector.runtime.links import build_link_app
    from connector.sandbox.server import bind_loopback
    from connector.store import SqlStore

    configure(level="warning")
    sock = bind_loopback()
    store = SqlStore.from_url(db_url)
    app = build_link_app(store, group_commit=mode == "grouped")
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="httptools"
    )
    print(sock.getsockname()[1], flush=True)
    cpu0 = time.process_time()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    stats_file.write_text(json.dumps({"cpu_s": time.process_time() - cpu0}))
    store.close()


def seed(db_url: str, n: int) -> list[str]:
    """N sent texts with one tracked link each; their tokens."""
    import secrets

    import sqlalchemy as sa

    from connector.store import SqlStore
    from connector.store import tables as tb

    now = datetime.now(UTC) - timedelta(minutes=5)
    tokens = [secrets.token_urlsafe(16) for _ in range(n)]
    store = SqlStore.from_url(db_url)
    try:
        with store.begin() as conn:
            conn.execute(
                sa.insert(tb.sms_outbox),
                [
                    {
                        "id": i + 1,
                        "idempotency_key": f"play:bench:Contact/{i}:x",
                        "contact_type": "Contact",
                        "contact_id": f"003{i:015d}",
                        "to_number": f"+1415{5550000 + i % 10000:07d}",
                        "body": "Pricing: ${link:pricing}",
                        "play": "bench",
                        "send_at": now,
                        "state": "sent",
                        "attempts": 1,
                        "provider_sid": f"SM{i:032x}",
                        "created_at": now,
                        "done_at": now,
                    }
                    for i in range(n)
                ],
            )
            conn.execute(
                sa.insert(tb.tracked_links),
                [
                    {
                        "token": token,
                        "outbox_id": i + 1,
                        "link": "pricing",
                        "play": "bench",
                        "contact_type": "Contact",
                        "contact_id": f"003{i:015d}",
                        "destination": DESTINATION,
                        "high_intent": True,
                        "created_at": now,
                        "expires_at": now + timedelta(days=30),
                    }
                    for i, token in enumerate(tokens)
                ],
            )
    finally:
        store.close()
    return tokens


def stored_clicks(db_url: str) -> tuple[int, int]:
    """(click rows, distinct links clicked)."""
    import sqlalchemy as sa

    from connector.store import SqlStore
    from connector.store.tables import link_clicks

    store = SqlStore.from_url(db_url)
    try:
        with store.begin() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(link_clicks)).scalar_one()
            links = conn.execute(
                sa.select(sa.func.count(sa.distinct(link_clicks.c.link_id)))
            ).scalar_one()
    finally:
        store.close()
    return int(rows), int(links)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> str:
    """One request on a keep-alive connection; the answer's status and Location."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length, location = 0, ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "location":
            location = value.strip()
    if length:
        await reader.readexactly(length)
    return f"{lines[0].split()[1]} {location}"


async def drive(port: int, tokens: list[str], concurrency: int) -> tuple[list[float], float, int]:
    requests_ = [
        (f"GET /l/{t} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {BROWSER}\r\n\r\n").encode()
        for t in tokens
    ]
    latencies: list[float] = []
    wrong = 0
    index = 0
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal index, wrong
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while index < len(requests_):
                i = index
                index += 1
                began = time.perf_counter()
                answer = await _get(reader, writer, requests_[i])
                latencies.append(time.perf_counter() - began)
                wrong += answer != f"302 {DESTINATION}"
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, wrong


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def one_pass(mode: str, clicks: int, concurrency: int) -> dict[str, Any]:
    from connector.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="smsync-bench-clicks-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'smsync.db'}"
        upgrade(db_url)
        tokens = seed(db_url, clicks)
        stats = Path(tmp) / "server.json"
        cmd = [
            sys.executable,
            __file__,
            "--serve",
            db_url,
            "--mode",
            mode,
            "--stats-file",
            str(stats),
        ]
        env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            asyncio.run(drive(port, tokens[:1], 1))  # warm-up: imports, first connection
            latencies, wall, wrong = asyncio.run(drive(port, tokens[1:], concurrency))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        rows, links = stored_clicks(db_url)
        cpu_s = float(json.loads(stats.read_text())["cpu_s"])
    done = clicks - 1
    if wrong or rows != clicks or links != clicks:
        raise SystemExit(
            f"{mode}: {wrong} answers were not the 302 to the destination; "
            f"{rows} click rows on {links} links for {clicks} clicks"
        )
    return {
        "clicks_per_s": round(done / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "wall_s": round(wall, 3),
        "cpu_ms_per_click": round(cpu_s * 1000 / clicks, 3),
    }


def run(clicks: int, concurrency: int) -> dict[str, Any]:
    from connector.logs import configure

    configure(level="warning")
    naive = one_pass("naive", clicks, concurrency)
    grouped = one_pass("grouped", clicks, concurrency)
    return {
        "clicks": clicks - 1,
        "concurrency": concurrency,
        "database": "sqlite",
        "clicks_per_s": grouped["clicks_per_s"],
        "p50_ms": grouped["p50_ms"],
        "p95_ms": grouped["p95_ms"],
        "naive_clicks_per_s": naive["clicks_per_s"],
        "naive_p50_ms": naive["p50_ms"],
        "naive_p95_ms": naive["p95_ms"],
        "server_cpu_ms_per_click": grouped["cpu_ms_per_click"],
        "naive_server_cpu_ms_per_click": naive["cpu_ms_per_click"],
        "speedup": round(grouped["clicks_per_s"] / naive["clicks_per_s"], 2),
        "meets_target": grouped["clicks_per_s"] >= TARGET_PER_S
        and grouped["p95_ms"] < TARGET_P95_MS,
        "target": f">= {TARGET_PER_S} clicks/s with p95 < {TARGET_P95_MS:g} ms",
        "note": "naive: the same route committing each click alone; every click is a first,"
        " counted click stored before its 302",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clicks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--serve", metavar="DB_URL", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["grouped", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.mode, args.stats_file)
        return
    if args.clicks < 101 or args.concurrency < 1:
        parser.error("--clicks must be at least 101 and --concurrency at least 1")
    result = run(args.clicks, args.concurrency)
    if not args.json:
        print(
            f"{result['clicks']} clicks: {result['clicks_per_s']}/s, p95 {result['p95_ms']} ms"
            f" (naive {result['naive_clicks_per_s']}/s, p95 {result['naive_p95_ms']} ms)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
