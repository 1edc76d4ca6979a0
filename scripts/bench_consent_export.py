"""Benchmark: `smsync consent export` over N consent-ledger rows on SQLite (acceptance:
1M rows stream out in < 30 s with a peak RSS < 200 MB).

A hash-chained ledger is generated with executemany in chunks (timed apart:
``generate_s``). A child process then exports it as JSON lines to /dev/null with the
digest line (``export_s``; ``export_cpu_s``, its CPU time, which a busy machine does not inflate;
``peak_rss_mb``: the child's own VmHWM, see scripts/_memory.py)
and verifies the whole chain (``verify_s``). The naive baseline, every row fetched into a
list first, runs in another child over ``--baseline-rows`` rows (default: all of them up to
200,000) for the memory ratio. Prints one JSON object; exits 1 over a limit."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.store.consent_chain import GENESIS, row_hash
from connector.store.migrate import upgrade

START = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 50_000
SOURCES = ("keyword", "web_form", "import", "crm")


def _ts(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def generate(path: Path, rows: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    prev = GENESIS
    try:
        conn.execute("BEGIN")
        for base in range(0, rows, CHUNK):
            chunk = []
            for n in range(base, min(base + CHUNK, rows)):
                at = START + timedelta(seconds=n * 7)
                fields = {
                    "phone": f"+1415{n % 10_000_000:07d}",
                    "status": "opted_out" if n % 3 == 0 else "opted_in",
                    "scope": "sender",
                    "source": SOURCES[n % len(SOURCES)],
                    "evidence_sid": f"SM{n:032x}",
                    "evidence_text": "STOP" if n % 3 == 0 else "START",
                    "at": at,
                    "recorded_at": at,
                }
                digest = row_hash(prev, fields)
                chunk.append(
                    (*(fields[k] for k in list(fields)[:6]), _ts(at), _ts(at), prev, digest)
                )
                prev = digest
            conn.executemany(
                "INSERT INTO consent_ledger (phone, status, scope, source, evidence_sid,"
                " evidence_text, at, recorded_at, prev_hash, row_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def measure(url: str, mode: str, limit: int | None) -> dict[str, object]:
    """In a child: export (streamed, or naive) and report this process's own peak."""
    import sqlalchemy as sa

    from connector.ops.consent_audit import export, verify
    from connector.store import SqlStore
    from connector.store.tables import consent_ledger

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _memory import peak_rss_mb

    store = SqlStore.from_url(url)
    out: dict[str, object] = {}
    try:
        with store.begin() as conn, Path(os.devnull).open("w", encoding="utf-8") as sink:
            started = time.perf_counter()
            cpu = time.process_time()
            if mode == "stream":
                lines = 0
                for line in export(conn, "jsonl", None, None):
                    sink.write(line)
                    lines += 1
                out["exported_rows"] = lines - 1
                out["export_s"] = round(time.perf_counter() - started, 3)
                out["export_cpu_s"] = round(time.process_time() - cpu, 3)
                started = time.perf_counter()
                verdict = verify(conn)
                out["verify_s"] = round(time.perf_counter() - started, 3)
                out["verified"] = verdict.broken is None and verdict.rows == lines - 1
            else:
                stmt = sa.select(consent_ledger).order_by(consent_ledger.c.id).limit(limit)
                everything = conn.execute(stmt).all()
                sink.writelines(json.dumps(r._asdict(), default=str) + "\n" for r in everything)
                out["exported_rows"] = len(everything)
                out["export_s"] = round(time.perf_counter() - started, 3)
    finally:
        store.close()
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def _child(url: str, mode: str, limit: int | None) -> dict[str, object]:
    args = [sys.executable, __file__, "--measure", url, "--mode", mode]
    if limit is not None:
        args += ["--limit", str(limit)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    parser.add_argument("--limit-s", type=float, default=30.0)
    parser.add_argument("--limit-mb", type=float, default=200.0)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        sys.stdout.write(json.dumps(measure(args.measure, args.mode, args.limit)) + "\n")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        started = time.perf_counter()
        generate(path, args.rows)
        generate_s = round(time.perf_counter() - started, 3)
        streamed = _child(url, "stream", None)
        baseline_rows = args.baseline_rows or min(args.rows, 200_000)
        naive = _child(url, "naive", baseline_rows)
    peak = float(streamed["peak_rss_mb"])  # type: ignore[arg-type]
    result = {
        "rows": args.rows,
        "generate_s": generate_s,
        **streamed,
        "baseline": {"rows": baseline_rows, **naive},
        "naive_over_streamed_rss": round(float(naive["peak_rss_mb"]) / peak, 2),  # type: ignore[arg-type]
        "limits": {"export_s": args.limit_s, "peak_rss_mb": args.limit_mb},
    }
    sys.stdout.write(json.dumps(result) + "\n")
    over = float(streamed["export_s"]) > args.limit_s or peak > args.limit_mb  # type: ignore[arg-type]
    return 1 if over or not streamed["verified"] else 0


if __name__ == "__main__":
    sys.exit(main())
