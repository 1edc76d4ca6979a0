"""Webhook intake speed: signed Twilio webhooks over real HTTP to the webhook app (uvicorn,
in its own process) until each is committed to the inbox on SQLite.

    python scripts/bench_ingest.py --events 5000 [--rate R] [--concurrency C] --json

"Intake" is measured per request from the moment it is written on the socket (with
--rate, from the moment it was due, so a stalled server cannot hide its backlog) to the
server's answer, which it sends only after the inbox commit. Every event must be in the
inbox afterwards, exactly once, or the run fails.

The server's CPU time and peak RSS are its own, counted from after start-up.

"e2e" is a second pass with the same events and pacing against the whole sidecar: the
sandbox (Salesforce + Twilio) in this process, `smsync run` as a child process with
default settings on a temp SQLite file. It runs from the moment a signed webhook is due on
the socket to the moment the sandbox holds its activity `sms:<MessageSid>` (the CRM write
acknowledged), through the runtime's ingest and writeback jobs and their wake-ups.

The last line is one JSON object: {events, wall_s, events_per_s, intake_p50_ms,
intake_p95_ms, e2e_p50_ms, e2e_p95_ms, cpu_ms_per_event, peak_rss_mb, ...}."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
INBOUND = "/webhooks/twilio/inbound"
E2E_CONTACTS = 200  # seeded CRM records the replies come from
E2E_NOTE = (
    "intake: the webhook app alone; e2e: smsync run (default settings, SQLite) against the "
    "sandbox, from the signed webhook to the activity sms:<sid> held by the sandbox CRM"
)


# -- the server process -------------------------------------------------------------------


def serve(db_url: str, stats_file: Path) -> None:
    """Run the webhook app on a free loopback port; print the port; on SIGINT/SIGTERM
    stop and write this process's CPU time and peak RSS since start-up."""
    import uvicorn
    from _memory import peak_rss_mb

    from connector.config import Settings
    from connector.logs import configure
    from connector.runtime.webhooks import build_webhook_app
    from connector.sandbox.server import bind_loopback
    from connector.store import SqlStore

    configure(level="warning")
    sock = bind_loopback()
    port = sock.getsockname()[1]
    settings = Settings(
        TWILIO_AUTH_TOKEN=os.environ["TWILIO_AUTH_TOKEN"],
        public_base_url=f"http://127.0.0.1:{port}",
        database_url=db_url,
    )
    store = SqlStore.from_url(db_url)
    app = build_webhook_app(settings, store)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="httptools"
    )
    server = uvicorn.Server(config)
    print(port, flush=True)
    cpu0 = time.process_time()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run(sockets=[sock])
    stats = {"cpu_s": time.process_time() - cpu0, "peak_rss_mb": peak_rss_mb()}
    stats_file.write_text(json.dumps(stats))
    store.close()


# -- the client ---------------------------------------------------------------------------


def signed_requests(
    n: int,
    port: int,
    token: str,
    *,
    phones: list[str] | None = None,
    account: tuple[str, str] = ("AC" + "0" * 32, "+15005550006"),
    sids: list[str] | None = None,
) -> list[bytes]:
    """N distinct inbound webhooks, signed for the server's public URL, as raw HTTP.
    `phones`: senders to cycle through; `account`: (AccountSid, To); `sids` collects the
    MessageSids in order."""
    from connector.sms.twilio.signature import compute

    url = f"http://127.0.0.1:{port}{INBOUND}"
    out = []
    for i in range(n):
        sid = "SM" + secrets.token_hex(16)
        if sids is not None:
            sids.append(sid)
        params = {
            "MessageSid": sid,
            "AccountSid": account[0],
            "From": phones[i % len(phones)] if phones else f"+1415{5550000 + i % 10000:07d}",
            "To": account[1],
            "Body": f"Reply {i}: yes, Thursday works",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(params).encode()
        head = (
            f"POST {INBOUND} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {compute(token, url, params)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def drive(
    port: int,
    requests_: list[bytes],
    concurrency: int,
    rate: float | None,
    began_at: list[float] | None = None,
) -> tuple[list[float], float, int]:
    """Send every request over `concurrency` keep-alive connections; latencies in s.
    `began_at`, when given, receives each request's start (perf_counter), by index."""
    latencies: list[float] = []
    failures = 0
    next_index = 0
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal next_index, failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests_):
                i = next_index
                next_index += 1
                due = start + i / rate if rate else None
                if due is not None:
                    await asyncio.sleep(max(due - time.perf_counter(), 0))
                began = due if due is not None else time.perf_counter()
                if began_at is not None:
                    began_at[i] = began
                status = await _roundtrip(reader, writer, requests_[i])
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    failures += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, failures


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def inbox_count(db_url: str) -> tuple[int, int]:
    """(rows, distinct provider ids) in the inbox."""
    import sqlalchemy as sa

    from connector.store import SqlStore
    from connector.store.tables import inbox

    store = SqlStore.from_url(db_url)
    try:
        with store.begin() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one()
            distinct = conn.execute(
                sa.select(sa.func.count(sa.distinct(inbox.c.provider_id)))
            ).scalar_one()
    finally:
        store.close()
    return int(rows), int(distinct)


# -- end to end: smsync run against the sandbox -------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"smsync run exited at start-up with {proc.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.05)
    raise SystemExit("smsync run did not become healthy")


def _wait_pulled(db_url: str, timeout: float = 60) -> int:
    """Wait until the first pull has stored the CRM's people (the count stops moving)."""
    import sqlalchemy as sa

    from connector.store import SqlStore
    from connector.store.tables import contact_state

    store = SqlStore.from_url(db_url)
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with store.begin() as conn:
                n = int(
                    conn.execute(sa.select(sa.func.count()).select_from(contact_state)).scalar_one()
                )
            if n != last:
                last, stable_since = n, time.monotonic()
            elif n > 0 and time.monotonic() - stable_since > 1.0:
                return n
            time.sleep(0.1)
    finally:
        store.close()
    raise SystemExit("the first pull did not finish")


def _watch(
    emulator: Any, ext_field: str, obj: str, sids: list[str], timeout_s: float
) -> tuple[dict[str, float], threading.Event]:
    """A thread noting when each activity `sms:<sid>` appears in the sandbox CRM."""
    seen: dict[str, float] = {}
    done = threading.Event()

    def loop() -> None:
        pending = set(sids)
        deadline = time.perf_counter() + timeout_s
        while pending and time.perf_counter() < deadline:
            for sid in list(pending):
                if emulator.store.by_unique(obj, ext_field, f"sms:{sid}") is not None:
                    seen[sid] = time.perf_counter()
                    pending.discard(sid)
            time.sleep(0.005)
        done.set()

    threading.Thread(target=loop, name="e2e-watch", daemon=True).start()
    return seen, done


def e2e(events: int, rate: float | None, concurrency: int) -> dict[str, Any]:
    """The second pass: webhook -> smsync run -> CRM write acknowledged; latencies in s."""
    from connector.config import load_mapping
    from connector.sandbox.seed import generate
    from connector.sandbox.server import Sandbox
    from connector.store.migrate import upgrade

    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    obj, ext_field = mapping.activity.object, mapping.activity.external_id_field
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory(prefix="smsync-bench-e2e-") as tmp,
        Sandbox(vendors=("salesforce", "twilio"), seed_contacts=E2E_CONTACTS) as sb,
    ):
        db_url = f"sqlite:///{Path(tmp) / 'smsync.db'}"
        upgrade(db_url)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
        env = {
            **clean,
            **sb.env(),
            "SMSYNC_DATABASE_URL": db_url,
            "SMSYNC_HTTP_PORT": str(port),
            "SMSYNC_PUBLIC_BASE_URL": base,
            "SMSYNC_LOG_LEVEL": "warning",
            "SMSYNC_LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
        }
        with (Path(tmp) / "sidecar.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "connector.cli", "run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
            try:
                _wait_healthy(proc, base)
                _wait_pulled(db_url)
                c = sb.credentials
                phones = [p.phone_e164 for p in generate(E2E_CONTACTS).contacts if p.phone_e164]
                sids: list[str] = []
                prepared = signed_requests(
                    events,
                    port,
                    c.twilio_auth_token,
                    phones=phones,
                    account=(c.twilio_account_sid, c.twilio_from),
                    sids=sids,
                )
                began = [0.0] * events
                seen, watched = _watch(
                    sb.emulators["salesforce"], ext_field, obj, sids, events / (rate or 50) + 120
                )
                _, _, failures = asyncio.run(
                    drive(port, prepared, min(concurrency, events), rate, began)
                )
                watched.wait()
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    missing = [sid for sid in sids if sid not in seen]
    if failures or missing:
        raise SystemExit(
            f"e2e: {failures} non-200 answers, {len(missing)} of {events} activities never "
            "reached the sandbox CRM"
        )
    return {"latencies": [seen[sid] - began[i] for i, sid in enumerate(sids)]}


def run(events: int, rate: float | None, concurrency: int) -> dict[str, Any]:
    from connector.logs import configure
    from connector.store.migrate import upgrade

    configure(level="warning")
    with tempfile.TemporaryDirectory(prefix="smsync-bench-ingest-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'smsync.db'}"
        upgrade(db_url)
        stats_file = Path(tmp) / "server.json"
        token = secrets.token_hex(16)
        env = {**os.environ, "TWILIO_AUTH_TOKEN": token, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, __file__, "--serve", db_url, "--stats-file", str(stats_file)]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            prepared = signed_requests(events, port, token)
            latencies, wall, failures = asyncio.run(
                drive(port, prepared, min(concurrency, events), rate)
            )
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        rows, distinct = inbox_count(db_url)
        usage = json.loads(stats_file.read_text())
    if failures or rows != events or distinct != events:
        raise SystemExit(
            f"intake lost or repeated events: {failures} non-200 answers, "
            f"{rows} inbox rows ({distinct} distinct) for {events} events"
        )
    end_to_end = e2e(events, rate, concurrency)["latencies"]
    return {
        "events": events,
        "wall_s": round(wall, 3),
        "events_per_s": round(events / wall, 1),
        "intake_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "intake_p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "e2e_p50_ms": round(percentile(end_to_end, 50) * 1000, 2),
        "e2e_p95_ms": round(percentile(end_to_end, 95) * 1000, 2),
        "cpu_ms_per_event": round(usage["cpu_s"] * 1000 / events, 3),
        "peak_rss_mb": round(usage["peak_rss_mb"], 1),
        "rate": rate,
        "concurrency": concurrency,
        "database": "sqlite",
        "inbox_rows": rows,
        "note": E2E_NOTE,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=None, help="events per second (open loop)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--serve", metavar="DB_URL", help=argparse.SUPPRESS)
    parser.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.stats_file)
        return
    if args.events < 1 or args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
        parser.error("--events and --concurrency must be at least 1, --rate above 0")
    result = run(args.events, args.rate, args.concurrency)
    if not args.json:
        print(
            f"{result['events']} webhooks in {result['wall_s']} s: "
            f"{result['events_per_s']}/s, intake p50 {result['intake_p50_ms']} ms, "
            f"p95 {result['intake_p95_ms']} ms, {result['cpu_ms_per_event']} CPU ms/event; "
            f"e2e p50 {result['e2e_p50_ms']} ms, p95 {result['e2e_p95_ms']} ms"
        )
        print(f"note: {E2E_NOTE}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
