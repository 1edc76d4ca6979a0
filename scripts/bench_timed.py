"""What the clock's scan costs with the index (`connector/engine/timed.py`), against the full
scan of every contact's segments it replaced, in the same run on the same store.

    python scripts/bench_timed.py --contacts 1000000 --due 1000 [--db sqlite --db postgres] --json

Seeds `--contacts` live contacts (set-based inserts), of which `--due` have a meeting whose
2-hour reminder falls in the scan's 10-minute window; the rest went quiet recently, or long
ago, or renew next month, none due in the window. Then per database: the index rebuild (a
plays change or the first scan; once), the full scan (baseline: every contact's segments,
`due()` on each), the indexed scan (the contacts due, `due()` on each), both compared
signal for signal, and a whole `timed.run` over the window (planning the due sends).
Postgres runs in a scratch schema on SMSYNC_TEST_DATABASE_URL (or --pg-url), dropped after.

The last line is one JSON object: per database {contacts, due, index_rows, rebuild_s,
baseline_scan_s, scan_s, run_s, speedup, signals, same}."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import scratch_schema

from connector.config import load_mapping, load_plays, load_settings, to_policy
from connector.domain.signals import Signal
from connector.engine import timed
from connector.engine.context import EngineContext
from connector.engine.plan import PlaysPlanner
from connector.ports import CrmPort, Cursor
from connector.store import SqlStore, contacts, cursors
from connector.store import tables as tb
from connector.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
WINDOW = timedelta(minutes=10)
CHUNK = 20_000


class _Clock:
    def now(self) -> datetime:
        return NOW


class _NoCrm:
    """The scan never calls the CRM."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the timed scan called the CRM ({name})")


def _segments(i: int, due: bool, rng: random.Random) -> dict[str, str]:
    seg = {"first_name": f"P{i}", "owner_name": "Dana Reyes"}
    if due:  # the reminder (2 h before) falls inside the window
        meeting = NOW + timedelta(hours=2) - timedelta(minutes=rng.randrange(1, 9))
        seg["meeting_time"] = meeting.isoformat()
        seg["last_activity"] = (NOW - timedelta(days=20)).date().isoformat()
        return seg
    kind = rng.randrange(4)
    if kind == 0:  # went quiet recently: the 14-day mark is ahead
        seg["last_activity"] = (NOW - timedelta(days=rng.randrange(0, 13))).date().isoformat()
    elif kind == 1:  # quiet long ago: the mark passed before the window
        seg["last_activity"] = (NOW - timedelta(days=rng.randrange(16, 400))).date().isoformat()
    elif kind == 2:  # renews next month; the 30-day reminder is days away
        seg["renewal_date"] = (NOW + timedelta(days=rng.randrange(32, 90))).date().isoformat()
        seg["last_activity"] = (NOW - timedelta(days=3)).date().isoformat()
    else:  # a meeting next week
        seg["meeting_time"] = (NOW + timedelta(days=rng.randrange(2, 9))).isoformat()
    return seg


def seed(store: SqlStore, n: int, due: int) -> None:
    rng = random.Random(21)
    due_at = set(rng.sample(range(n), due))
    t = tb.contact_state
    for start in range(0, n, CHUNK):
        rows: list[dict[str, Any]] = [
            {
                "crm_object_type": "Contact",
                "crm_id": f"003{i:015d}",
                "phone": f"+1212{200 + i // 10_000 % 700:03d}{i % 10_000:04d}",
                "tz_zones": [["America/New_York", "crm_field"]],
                "tz_source": "crm_field",
                "lifecycle_stage": "sql",
                "owner_team": "ae",
                "consent": "opted_in",
                "segments": _segments(i, i in due_at, rng),
                "deleted": False,
                "updated_at": NOW,
            }
            for i in range(start, min(n, start + CHUNK))
        ]
        with store.begin() as conn:
            conn.execute(sa.insert(t), rows)


def context(store: SqlStore) -> EngineContext:
    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml", mapping))
    return EngineContext(
        settings=load_settings(crm="salesforce"),
        mapping=mapping,
        store=store,
        crm=cast("CrmPort", _NoCrm()),
        sms=None,
        clock=_Clock(),
        worker_id="bench",
        planner=PlaysPlanner(policy),
    )


def full_scan(ctx: EngineContext, watch: timed._Watch, since: datetime) -> list[Signal]:
    """The scan before the index (timed.py until #21): every live contact's segments."""
    found: list[Signal] = []
    after = 0
    while True:
        with ctx.store.begin() as conn:
            page = contacts.segment_page(conn, after, timed.PAGE)
        for row_id, ref, segments in page:
            after = row_id
            found += timed.due(ref, segments, watch, since, NOW)
        if len(page) < timed.PAGE:
            return found


def indexed_scan(ctx: EngineContext, watch: timed._Watch, since: datetime) -> list[Signal]:
    found: list[Signal] = []
    after = 0
    while True:
        with ctx.store.begin() as conn:
            page, read, after = timed.due_now(conn, watch, since, NOW, after)
        found += [s for _, signals in page for s in signals]
        if read < timed.PAGE:
            return found


def one(url: str, n: int, due: int) -> dict[str, Any]:
    upgrade(url)
    store = SqlStore.from_url(url)
    try:
        seed(store, n, due)
        ctx = context(store)
        watch = timed.watch_of(ctx)
        assert watch is not None
        started = time.perf_counter()
        timed.ensure_index(ctx, watch, NOW)
        rebuild = time.perf_counter() - started
        if store.dialect == "postgresql":
            with store.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        since = NOW - WINDOW
        started = time.perf_counter()
        baseline = full_scan(ctx, watch, since)
        baseline_s = time.perf_counter() - started
        started = time.perf_counter()
        ours = indexed_scan(ctx, watch, since)
        scan_s = time.perf_counter() - started
        with store.begin() as conn:
            cursors.set_(conn, timed.cursor_name(ctx), Cursor(since, "timed"), since)
            rows = conn.execute(sa.select(sa.func.count()).select_from(tb.timed_instants))
            index_rows = int(rows.scalar_one())
        started = time.perf_counter()
        report = timed.run(ctx)
        run_s = time.perf_counter() - started
        return {
            "contacts": n,
            "due": due,
            "index_rows": index_rows,
            "rebuild_s": round(rebuild, 3),
            "baseline_scan_s": round(baseline_s, 3),
            "scan_s": round(scan_s, 4),
            "run_s": round(run_s, 4),
            "run_sends_planned": report.sends_planned,
            "speedup": round(baseline_s / scan_s, 1) if scan_s else None,
            "signals": len(ours),
            "same": ours == baseline,
        }
    finally:
        store.close()


def _database(db: str, pg_url: str | None, tmp: str) -> AbstractContextManager[str]:
    if db == "sqlite":
        return nullcontext(f"sqlite:///{tmp}/bench_timed.db")
    if not pg_url:
        raise SystemExit("--db postgres needs --pg-url or SMSYNC_TEST_DATABASE_URL")
    return scratch_schema(pg_url, "bench_timed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=os.environ.get("SMSYNC_TEST_DATABASE_URL"))
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    if args.contacts < 1 or not 0 <= args.due <= args.contacts:
        parser.error("--contacts must be at least 1 and --due between 0 and --contacts")
    dbs = args.db or (["sqlite", "postgres"] if args.pg_url else ["sqlite"])
    out: dict[str, Any] = {}
    for db in dbs:
        with tempfile.TemporaryDirectory() as tmp, _database(db, args.pg_url, tmp) as url:
            out[db] = one(url, args.contacts, args.due)
        if not args.json:
            print(db, out[db], file=sys.stderr)
    print(json.dumps(out))
    return 0 if all(r["same"] for r in out.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
