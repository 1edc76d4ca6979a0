"""Crash safety of `smsync run` (issue 7, acceptance 3; docs/reliability.md).

    python scripts/crash_loop.py --events 2000 --kills 20 [--database-url URL] --json

Starts the sandbox (Salesforce + Twilio) in this process and `smsync run` as a child
process, plays N inbound texts on the Twilio emulator's handset over time (their webhooks
go to the child), and SIGKILLs the child at least K times, restarting it each time. Half
the kills are the sandbox's `kill_after_writes` fault, which fires right after a CRM write
is acknowledged and before the child commits it (docs/reliability.md, fault 1); the others
are random timers. Webhooks sent while the child is dead are recovered by Twilio's one
retry or by the reconciliation poll, which runs at every start-up.

Then it waits for quiescence and checks: every event has exactly one activity
(`sms:<MessageSid>`), no CRM external id is held by two records, and on SQLite
`PRAGMA integrity_check` is ok. With a Postgres `--database-url`, the run uses a fresh
schema it creates and drops. The last line is one JSON object:
{events, kills, lost, duplicates, integrity, wall_s, database, ...}.

    python scripts/crash_loop.py --replicas 2 --writes 3000 [--database-url URL] --json

runs the takeover mode instead (`_takeover.py`, issue 22): N replicas on Postgres, the one
holding claimed CRM writes SIGKILLed while its batch is in flight, and the time until
every row it held is claimed by a survivor or written: {mode, takeover_max_s, in_flight,
crm_missing, crm_duplicated, ok, ...}. Without `--database-url` it uses a scratch schema
on SMSYNC_TEST_DATABASE_URL (else the local test server)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from _harness import SmsyncRun, free_port, scratch_schema
from _takeover import TakeoverOptions, run_takeover

BODIES = (
    "Yes, Thursday works for me",
    "How much does it cost?",
    "Can we move it to next week?",
    "wrong number, sorry",
    "sounds good",
    "STOP",
    "call me tomorrow",
)


@contextlib.contextmanager
def database(url: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(URL, dialect): a temp SQLite file, or a fresh schema on the given Postgres."""
    if url is None:
        yield f"sqlite:///{tmp / 'smsync.db'}", "sqlite"
        return
    with scratch_schema(url, "smsync_crash") as scoped:
        yield scoped, "postgres"


Sidecar = SmsyncRun  # one `smsync run` child on a fixed port (the webhooks' target)


@dataclass
class Injector:
    """Plays `events` inbound texts on the emulator's handset at `rate` per second."""

    admin: str
    phones: list[str]
    events: int
    rate: float
    rng: random.Random
    sids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        plan = [(self.rng.choice(self.phones), self.rng.choice(BODIES)) for _ in range(self.events)]
        self._thread = threading.Thread(target=self._run, args=(plan,), daemon=True)
        self._thread.start()

    def _run(self, plan: list[tuple[str, str]]) -> None:
        start = time.monotonic()
        session = requests.Session()
        for i, (phone, body) in enumerate(plan):
            time.sleep(max(start + i / self.rate - time.monotonic(), 0))
            for attempt in range(5):
                try:
                    reply = session.post(
                        f"{self.admin}/__sandbox/twilio/inbound",
                        json={"from": phone, "body": f"{body} #{i}"},
                        timeout=60,
                    )
                    reply.raise_for_status()
                except requests.RequestException as exc:
                    if attempt == 4:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.2)
                    continue
                with self._lock:
                    self.sids.append(str(reply.json()["sid"]))
                break

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


def activity_counts(emulator: Any, sids: list[str]) -> tuple[int, int]:
    """(events with no activity, events with more than one)."""
    lost = extra = 0
    for sid in sids:
        n = len(emulator.find("Task", "SMS_Message_Id__c", f"sms:{sid}"))
        lost += n == 0
        extra += n > 1
    return lost, extra


def duplicate_records(emulator: Any) -> int:
    """Records beyond the first that hold the same external id, over every object the
    connector writes (activities and tasks live on Task; consent and dispositions update
    Lead and Contact in place)."""
    dupes = 0
    for obj in ("Task", "Lead", "Contact"):
        seen: Counter[str] = Counter()
        for row in emulator.store.rows(obj).values():
            ext = row.get("SMS_Message_Id__c")
            if not row.get("IsDeleted") and ext:
                seen[str(ext)] += 1
        dupes += sum(n - 1 for n in seen.values() if n > 1)
    return dupes


def store_state(db_url: str) -> dict[str, int]:
    from connector.store import SqlStore
    from connector.store.tables import crm_outbox, inbox

    store = SqlStore.from_url(db_url)
    try:
        with store.begin() as conn:
            unprocessed, dead = conn.execute(
                sa.select(
                    sa.func.count().filter(inbox.c.dead_at.is_(None)),
                    sa.func.count().filter(inbox.c.dead_at.is_not(None)),
                ).where(inbox.c.processed_at.is_(None))
            ).one()
            rows = conn.execute(
                sa.select(crm_outbox.c.state, sa.func.count()).group_by(crm_outbox.c.state)
            ).all()
            by_state: dict[str, int] = {str(state): int(n) for state, n in rows}
    finally:
        store.close()
    return {
        "inbox_unprocessed": int(unprocessed),
        "inbox_dead": int(dead),
        "outbox_open": sum(n for s, n in by_state.items() if s not in ("done", "failed", "dead")),
        "outbox_failed": by_state.get("failed", 0),
        "outbox_dead": by_state.get("dead", 0),
    }


def integrity(db_url: str) -> str:
    path = db_url.removeprefix("sqlite:///")
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    finally:
        engine.dispose()
    return "ok" if rows == ["ok"] else "; ".join(str(r) for r in rows)[:500]


@dataclass(frozen=True)
class Options:
    events: int
    kills: int
    database_url: str | None
    rate: float
    seed: int
    contacts: int


def kill_loop(
    sb: Any, env: dict[str, str], port: int, log: Path, *, kills: int, rng: random.Random
) -> tuple[int, int]:
    """Start, SIGKILL and restart `smsync run` `kills` times; (after a CRM write, by timer)."""
    from connector.sandbox.faults import FaultSpec, KillAfterWrites

    by_fault = by_timer = 0
    while by_fault + by_timer < kills:
        car = Sidecar(env, port, log)
        car.wait_healthy()
        if rng.random() < 0.5:
            spec = KillAfterWrites(writes=rng.randint(1, 60), pid=car.proc.pid)
            sb.state.faults.set("salesforce", FaultSpec(kill_after_writes=spec))
            if car.wait_exit(timeout=rng.uniform(3.0, 8.0)):
                by_fault += 1
            else:
                by_timer += 1  # too little work to reach the threshold: a timer instead
        else:
            time.sleep(rng.uniform(0.1, 3.0))
            by_timer += 1
        car.kill()
        sb.state.faults.clear("salesforce")
    return by_fault, by_timer


def quiesce(emulator: Any, sids: list[str], db_url: str, timeout: float) -> None:
    """Wait until every event has its activity and nothing is left to do."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lost, _ = activity_counts(emulator, sids)
        state = store_state(db_url)
        if lost == 0 and state["inbox_unprocessed"] == 0 and state["outbox_open"] == 0:
            return
        time.sleep(0.5)


def run(opts: Options) -> dict[str, Any]:
    from connector.logs import configure
    from connector.sandbox.seed import generate
    from connector.sandbox.server import Sandbox
    from connector.store.migrate import upgrade

    configure(level="warning")
    rng = random.Random(opts.seed)
    started = time.monotonic()
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="smsync-crash-") as tmp,
        database(opts.database_url, Path(tmp)) as (db_url, dialect),
        Sandbox(
            vendors=("salesforce", "twilio"),
            seed_contacts=opts.contacts,
            seed=opts.seed,
            webhook_base_url=f"http://127.0.0.1:{port}",
        ) as sb,
    ):
        upgrade(db_url)
        emulator = sb.emulators["salesforce"]
        seeded = generate(opts.contacts, seed=opts.seed).contacts
        phones = [c.phone_e164 for c in seeded if c.phone_e164]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
        env = {
            **clean,
            **sb.env(),
            "SMSYNC_DATABASE_URL": db_url,
            "SMSYNC_HTTP_PORT": str(port),
            "SMSYNC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SMSYNC_LOG_FORMAT": "json",
            "SMSYNC_LOG_LEVEL": "warning",
        }
        log_file = Path(tmp) / "sidecar.log"
        injector = Injector(sb.urls["admin"], phones, opts.events, opts.rate, rng)
        injector.start()
        by_fault, by_timer = kill_loop(sb, env, port, log_file, kills=opts.kills, rng=rng)
        car = Sidecar(env, port, log_file)
        car.wait_healthy()
        injector.join()
        sids = list(injector.sids)
        # on Postgres the dead workers' leases must run out (30 s after their last beat)
        quiesce(emulator, sids, db_url, 120.0 if dialect == "sqlite" else 180.0)
        code = car.terminate()
        lost, repeated = activity_counts(emulator, sids)
        result: dict[str, Any] = {
            "events": len(sids),
            "kills": by_fault + by_timer,
            "lost": lost,
            "duplicates": repeated + duplicate_records(emulator),
            "integrity": integrity(db_url) if dialect == "sqlite" else "n/a (postgres)",
            "wall_s": round(time.monotonic() - started, 1),
            "database": dialect,
            "kills_after_crm_write": by_fault,
            "kills_by_timer": by_timer,
            "injection_errors": len(injector.errors),
            "final_exit_code": code,
            **store_state(db_url),
        }
        if lost or result["duplicates"] or len(sids) != opts.events:
            tail = log_file.read_text(errors="replace").splitlines()[-40:]
            result["log_tail"] = [line[:300] for line in tail]
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="Postgres (default: temp SQLite)")
    parser.add_argument("--rate", type=float, default=40.0, help="inbound texts per second")
    parser.add_argument("--contacts", type=int, default=200, help="seeded CRM contacts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    takeover = parser.add_argument_group("takeover mode (Postgres)")
    takeover.add_argument("--replicas", type=int, default=0, help="2 or more: takeover mode")
    takeover.add_argument("--writes", type=int, default=3000, help="CRM writes queued")
    takeover.add_argument("--latency-ms", type=float, default=3000.0, help="per Salesforce call")
    takeover.add_argument("--lease-s", type=float, default=None, help="SMSYNC_WRITEBACK_LEASE_S")
    takeover.add_argument(
        "--interval-s", type=float, default=None, help="SMSYNC_WRITEBACK_INTERVAL_S"
    )
    takeover.add_argument("--timeout", type=float, default=600.0, help="seconds for the run")
    args = parser.parse_args(argv)
    if args.replicas:
        return takeover_main(args)
    if args.events < 1 or args.kills < 0 or args.rate <= 0:
        parser.error("--events must be at least 1, --kills at least 0, --rate above 0")
    opts = Options(args.events, args.kills, args.database_url, args.rate, args.seed, args.contacts)
    result = run(opts)
    ok = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["integrity"] in ("ok", "n/a (postgres)")
        and result["events"] == args.events
    )
    if not args.json:
        print(
            f"{result['events']} events, {result['kills']} kills: {result['lost']} lost, "
            f"{result['duplicates']} duplicates, integrity {result['integrity']}, "
            f"{result['wall_s']} s"
        )
    print(json.dumps(result))
    return 0 if ok else 1


def takeover_main(args: argparse.Namespace) -> int:
    if args.replicas < 2 or args.writes < 1 or args.latency_ms < 0:
        raise SystemExit("--replicas must be at least 2, --writes at least 1")
    opts = TakeoverOptions(
        replicas=args.replicas,
        writes=args.writes,
        contacts=args.contacts,
        seed=args.seed,
        database_url=args.database_url,
        latency_ms=args.latency_ms,
        lease_s=args.lease_s,
        interval_s=args.interval_s,
        timeout=args.timeout,
    )
    result = run_takeover(opts)
    if not args.json:
        print(
            f"{opts.replicas} replicas: the one holding {result['in_flight']} claimed CRM writes"
            f" was killed; all taken over in {result['takeover_max_s']} s;"
            f" {result['crm_missing']} missing, {result['crm_duplicated']} twice"
        )
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
