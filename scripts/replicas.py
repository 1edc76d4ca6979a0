"""Replicas of `smsync run` on Postgres (issue 9, acceptance 2).

    python scripts/replicas.py --replicas 3 --sends 2000 --writes 2000 [--database-url URL] --json

Starts the sandbox (Salesforce + Twilio) in this process, pulls its seeded CRM into a fresh
Postgres schema once, and queues `--sends` manual texts (to opted-in mobile contacts the
chokepoint allows, one distinct body each) and `--writes` CRM activity writes (external ids
`sms:SM...`). Then it starts N `smsync run` replicas on that schema, finds the replica
leading the `send` job (`smsync_job_leader` on each `/metrics`), and SIGKILLs it mid-run,
preferably while it holds claimed SMS rows. It measures how long each of the dead leader's
jobs stays leaderless (scraping the survivors), waits until every outbox row is settled
(the dead leader's leases must run out first: SMSYNC_CLAIM_LEASE_S and
SMSYNC_WRITEBACK_LEASE_S, shortened here), and counts at the sandbox:

- every queued text reached Twilio exactly once (by its unique body) and no other text did;
- the CRM holds exactly one Task per external id: the queued writes plus one activity per
  text sent, and no external id twice;
- no SMS or CRM outbox row is left pending, claimed or failed.

Without `--database-url`, a schema is created on SMSYNC_TEST_DATABASE_URL (default: the
local `postgresql+psycopg://postgres@127.0.0.1:5432/test`) and dropped afterwards. The last
line printed is one JSON object; the exit code is 0 when every check holds."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from _harness import ROOT, Replica, free_port, scratch_db

INTERVALS = {  # short ticks and leases: a survivor takes a dead leader's lock and rows quickly
    "SMSYNC_SEND_INTERVAL_S": "0.5",
    "SMSYNC_WRITEBACK_INTERVAL_S": "0.5",
    "SMSYNC_INGEST_INTERVAL_S": "0.5",
    "SMSYNC_PULL_INTERVAL_S": "2",
    "SMSYNC_SWEEP_INTERVAL_S": "2",
    "SMSYNC_RECONCILE_INTERVAL_S": "5",
    "SMSYNC_GAUGES_INTERVAL_S": "1",
    "SMSYNC_ALERTS_INTERVAL_S": "2",
    # short leases (kept by heartbeats while rows are worked on), so a dead leader's
    # claimed rows come back within seconds
    "SMSYNC_CLAIM_LEASE_S": "8",
    "SMSYNC_WRITEBACK_LEASE_S": "8",
}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (the settings loader reads only the env)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def write_plays(path: Path) -> Path:
    """The example plays file with quiet hours open all day: the replicas' sends must not
    depend on the hour the run happens at (quiet hours have their own tests). Plays the
    clock triggers (a renewal, quiet days) are left out: they would queue texts for later
    dates, and the run ends when every queued text has settled."""
    plays = yaml.safe_load((ROOT / "mappings" / "plays.yaml").read_text(encoding="utf-8"))
    clock = ("date_approaching", "inactive_days")
    plays["plays"] = [p for p in plays["plays"] if not any(k in p["trigger"] for k in clock)]
    plays["policy"]["quiet_hours"] = {
        "default": {"start": "00:00", "end": "23:59"},
        "unknown_zone": "default",
        "default_zone": "America/New_York",
    }
    path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Options:
    replicas: int
    sends: int
    writes: int
    contacts: int
    seed: int
    database_url: str | None
    kill: bool
    kill_at: float
    timeout: float


@dataclass
class Workload:
    send_bodies: dict[str, str]  # idempotency key -> body
    write_ids: list[str]
    recipients: int


def activity_sid(seed: int, i: int) -> str:
    return "SM" + hashlib.blake2b(f"replicas:{seed}:{i}".encode(), digest_size=16).hexdigest()


def allowed_contacts(conn: sa.Connection, policy: Any, landlines: frozenset[str]) -> list[Any]:
    """Pulled contacts the chokepoint lets a manual text reach now (consent, number)."""
    from connector.domain.model import CrmRef, Verdict
    from connector.engine.outbox_keys import manual_key
    from connector.engine.send_check import check
    from connector.store.contacts import get as get_contact
    from connector.store.records import SmsOutboxRow
    from connector.store.tables import contact_state

    now = datetime.now(UTC)
    allowed = []
    refs = conn.execute(
        sa.select(contact_state.c.crm_object_type, contact_state.c.crm_id).order_by(
            contact_state.c.crm_object_type, contact_state.c.crm_id
        )
    ).all()
    for object_type, crm_id in refs:
        state = get_contact(conn, CrmRef(object_type, crm_id))
        if state is None or not state.phone or state.phone in landlines:
            continue  # the chokepoint cannot know a landline before Twilio says so
        probe = SmsOutboxRow(
            id=0,
            idempotency_key=manual_key("replicas", state.ref, "probe"),
            to=state.phone,
            body="probe",
            send_at=now,
            state="pending",
            attempts=0,
            contact=state.ref,
        )
        if check(conn, probe, policy, now).verdict is Verdict.ALLOW:
            allowed.append(state)
    return allowed


def enqueue_work(
    conn: sa.Connection, allowed: list[Any], opts: Options, twilio_from: str
) -> Workload:
    """The texts (manual sends, one distinct body each) and the CRM activity writes."""
    from connector.domain.model import Direction, Message, MessageStatus
    from connector.engine import crm_records
    from connector.engine.outbox_keys import manual_key
    from connector.store import crm_outbox, sms_outbox

    now = datetime.now(UTC)
    bodies: dict[str, str] = {}
    for i in range(opts.sends):
        state = allowed[i % len(allowed)]
        key = manual_key("replicas", state.ref, f"r{opts.seed}-{i:05d}")
        body = f"Replica run {opts.seed}, text {i:05d}: your order is ready"
        assert sms_outbox.enqueue(
            conn, key, to=state.phone, body=body, send_at=now, now=now, contact=state.ref
        )
        bodies[key] = body
    write_ids = []
    for i in range(opts.writes):
        state = allowed[i % len(allowed)]
        message = Message(
            sid=activity_sid(opts.seed, i),
            direction=Direction.INBOUND,
            from_=state.phone,
            to=twilio_from,
            body=f"Replica run {opts.seed}, reply {i:05d}",
            status=MessageStatus.RECEIVED,
            at=now,
        )
        write = crm_records.activity(message, state.ref)
        assert crm_outbox.enqueue(conn, write, now)
        write_ids.append(write.external_id)
    return Workload(bodies, write_ids, len(allowed))


def prepare(sb: Any, db_url: str, plays: Path, opts: Options) -> Workload:
    """Pull the seeded CRM once (no planner: nothing is planned), then queue the work."""
    from connector.config import load_settings
    from connector.engine import pull
    from connector.engine.plan import load_policy
    from connector.runtime.wiring import build
    from connector.sandbox.seed import generate

    with environment({**sb.env(), "SMSYNC_DATABASE_URL": db_url, "SMSYNC_PLAYS": str(plays)}):
        settings = load_settings()
    parts = build(settings, planner=None)
    ctx = parts.engine
    try:
        if pull.run(ctx).contacts == 0:
            raise RuntimeError("the sandbox CRM pull brought no contacts")
        policy = load_policy(settings, ctx.mapping)
        landlines = generate(opts.contacts, seed=opts.seed).landlines
        with ctx.store.begin() as conn:
            allowed = allowed_contacts(conn, policy, landlines)
        if not allowed:
            raise RuntimeError("no seeded contact may be texted (consent, number)")
        with ctx.store.begin() as conn:
            return enqueue_work(conn, allowed, opts, settings.twilio_from or "+15005550006")
    finally:
        parts.close()


@dataclass
class Watch:
    """What the driver saw around the kill."""

    victim: int | None = None
    victim_jobs: list[str] = field(default_factory=list)
    sent_at_kill: int = 0
    in_flight: dict[str, list[int]] = field(default_factory=dict)
    takeover_s: dict[str, float] = field(default_factory=dict)
    new_leaders: dict[str, int] = field(default_factory=dict)
    first_send_after_kill_s: float | None = None
    recovered_s: float | None = None
    reconciled: int = 0  # in-flight texts the dead leader had POSTed: found, not re-sent
    killed_by: str | None = None
    sids_at_kill: set[str] = field(default_factory=set)
    kill_wall: datetime | None = None
    kill_mono: float = 0.0


def outbox_state(engine: sa.Engine) -> dict[str, dict[str, int]]:
    from connector.store.tables import crm_outbox, inbox, sms_outbox

    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for name, table in (("sms", sms_outbox), ("crm", crm_outbox)):
            rows = conn.execute(sa.select(table.c.state, sa.func.count()).group_by(table.c.state))
            out[name] = {str(state): int(n) for state, n in rows}
        open_inbox = conn.execute(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.processed_at.is_(None))
        ).scalar_one()
    out["inbox"] = {"unprocessed": int(open_inbox)}
    return out


def claimed_by(engine: sa.Engine, worker: str) -> dict[str, list[int]]:
    from connector.store.tables import crm_outbox, sms_outbox

    held: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for name, table in (("sms", sms_outbox), ("crm", crm_outbox)):
            held[name] = [
                int(i)
                for (i,) in conn.execute(
                    sa.select(table.c.id).where(
                        table.c.state == "claimed", table.c.claimed_by == worker
                    )
                )
            ]
    return held


def leaders(replicas: list[Replica]) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in replicas:
        for job in r.leads() or set():
            found[job] = r.index
    return found


def kill_leader(
    replicas: list[Replica],
    engine: sa.Engine,
    sb: Any,
    opts: Options,
    watch: Watch,
    *,
    deadline: float,
) -> Replica | None:
    """SIGKILL the send job's leader once `kill_at` of the texts went out: the sandbox
    kills it right after Twilio accepts its next text, before it can record the send, at a
    moment it holds claimed SMS rows (preferably no CRM rows as well)."""
    from connector.sandbox.faults import FaultSpec, KillAfterWrites
    from connector.store.tables import sms_outbox

    target = int(opts.sends * opts.kill_at)
    victim: Replica | None = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            sent = conn.execute(
                sa.select(sa.func.count())
                .select_from(sms_outbox)
                .where(sms_outbox.c.state == "sent")
            ).scalar_one()
        if sent >= target:
            lead = leaders(replicas).get("send")
            if lead is not None:
                victim = replicas[lead]
                break
        time.sleep(0.05)
    if victim is None:
        return None
    watch.victim_jobs = sorted(victim.leads() or set())
    moment = time.monotonic() + 5.0
    while time.monotonic() < moment:
        held = claimed_by(engine, victim.worker_id)
        if held["sms"] and not held["crm"]:
            break
        time.sleep(0.01)
    spec = KillAfterWrites(writes=1, pid=victim.proc.pid)
    sb.state.faults.set("twilio", FaultSpec(kill_after_writes=spec))
    try:
        victim.proc.wait(timeout=5)
        watch.killed_by = "sandbox: SIGKILL right after Twilio accepted a text"
    except subprocess.TimeoutExpired:
        watch.killed_by = "driver: SIGKILL (no text went out within 5 s)"
    finally:
        sb.state.faults.clear("twilio")
    victim.kill()
    watch.kill_mono = time.monotonic()
    watch.kill_wall = datetime.now(UTC)
    watch.victim = victim.index
    twilio = sb.emulators["twilio"]
    with twilio.lock:
        watch.sids_at_kill = set(twilio.store.by_sid)
    watch.in_flight = claimed_by(engine, victim.worker_id)
    with engine.connect() as conn:
        watch.sent_at_kill = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(sms_outbox)
                .where(sms_outbox.c.state == "sent")
            ).scalar_one()
        )
    return victim


def watch_takeover(survivors: list[Replica], watch: Watch, limit_s: float) -> None:
    """Scrape the survivors until each of the dead leader's jobs has a new leader."""
    wanted = set(watch.victim_jobs)
    while wanted and time.monotonic() - watch.kill_mono < limit_s:
        for r in survivors:
            for job in (r.leads() or set()) & wanted:
                watch.takeover_s[job] = round(time.monotonic() - watch.kill_mono, 3)
                watch.new_leaders[job] = r.index
                wanted.discard(job)
        time.sleep(0.05)


def settled(state: dict[str, dict[str, int]]) -> bool:
    sms_open = sum(n for s, n in state["sms"].items() if s not in ("sent", "failed"))
    crm_open = sum(n for s, n in state["crm"].items() if s not in ("done", "failed"))
    return sms_open == 0 and crm_open == 0 and state["inbox"]["unprocessed"] == 0


def wait_settled(engine: sa.Engine, sb: Any, deadline: float) -> dict[str, dict[str, int]]:
    """Until both outboxes and the inbox are empty and Twilio has no status still to
    report, twice in a row one second apart."""
    twilio = sb.emulators["twilio"]
    calm = 0
    state = outbox_state(engine)
    while time.monotonic() < deadline:
        state = outbox_state(engine)
        with twilio.lock:
            pending = len(twilio.store.pending)
        calm = calm + 1 if settled(state) and pending == 0 else 0
        if calm >= 2:
            break
        time.sleep(1.0)
    return state


def victim_recovery(engine: sa.Engine, watch: Watch) -> None:
    """When the last row the dead leader held was settled by a survivor, and when a
    survivor first sent a text after the kill."""
    from connector.store.tables import crm_outbox, sms_outbox

    assert watch.kill_wall is not None
    with engine.connect() as conn:
        first = conn.execute(
            sa.select(sa.func.min(sms_outbox.c.done_at)).where(
                sms_outbox.c.state == "sent", sms_outbox.c.done_at > watch.kill_wall
            )
        ).scalar_one()
        last = None
        for name, table in (("sms", sms_outbox), ("crm", crm_outbox)):
            ids = watch.in_flight.get(name) or []
            if ids:
                found = conn.execute(
                    sa.select(sa.func.max(table.c.done_at)).where(table.c.id.in_(ids))
                ).scalar_one()
                if found is not None and (last is None or found > last):
                    last = found
    if first is not None:
        watch.first_send_after_kill_s = round((first - watch.kill_wall).total_seconds(), 3)
    if last is not None:
        watch.recovered_s = round((last - watch.kill_wall).total_seconds(), 3)


def reconciled_after_kill(engine: sa.Engine, watch: Watch) -> int:
    """In-flight texts Twilio had accepted before the kill (their sid was already there)
    that a survivor recorded under that same sid: reconciled, not sent again."""
    from connector.store.tables import sms_outbox

    ids = watch.in_flight.get("sms") or []
    if not ids:
        return 0
    with engine.connect() as conn:
        sids = {
            str(sid)
            for (sid,) in conn.execute(
                sa.select(sms_outbox.c.provider_sid).where(sms_outbox.c.id.in_(ids))
            )
            if sid
        }
    return len(sids & watch.sids_at_kill)


def count_twilio(sb: Any, bodies: dict[str, str]) -> dict[str, int]:
    twilio = sb.emulators["twilio"]
    with twilio.lock:
        outbound = [
            m for m in twilio.store.by_sid.values() if str(m.direction).startswith("outbound")
        ]
    seen = Counter(m.body for m in outbound)
    wanted = set(bodies.values())
    return {
        "twilio_outbound": len(outbound),
        "sends_missing": sum(1 for b in wanted if seen[b] == 0),
        "sends_duplicated": sum(1 for b in wanted if seen[b] > 1),
        "texts_not_queued": sum(n for b, n in seen.items() if b not in wanted),
    }


def count_crm(sb: Any, engine: sa.Engine, write_ids: list[str]) -> dict[str, int]:
    """Task records per external id: the queued writes and one activity per sent text."""
    from connector.store.tables import sms_outbox

    sf = sb.emulators["salesforce"]
    held: Counter[str] = Counter()
    for row in list(sf.store.rows("Task").values()):
        ext = row.get("SMS_Message_Id__c")
        if ext and not row.get("IsDeleted"):
            held[str(ext)] += 1
    with engine.connect() as conn:
        sids = [
            str(sid)
            for (sid,) in conn.execute(
                sa.select(sms_outbox.c.provider_sid).where(sms_outbox.c.state == "sent")
            )
        ]
    expected = [*write_ids, *(f"sms:{sid}" for sid in sids)]
    return {
        "crm_expected": len(expected),
        "crm_missing": sum(1 for e in expected if held[e] == 0),
        "crm_duplicated": sum(1 for e in expected if held[e] > 1),
        "crm_ids_held_twice": sum(1 for n in held.values() if n > 1),
        "sent_rows_distinct_sids": len(set(sids)),
    }


def run(opts: Options) -> dict[str, Any]:
    from connector.logs import configure
    from connector.sandbox.server import Sandbox
    from connector.store import make_engine
    from connector.store.migrate import upgrade

    configure(level="warning")
    started = time.monotonic()
    ports = [free_port() for _ in range(opts.replicas)]
    watch = Watch()
    with (
        tempfile.TemporaryDirectory(prefix="smsync-replicas-") as tmp,
        scratch_db(opts.database_url) as db_url,
        Sandbox(
            vendors=("salesforce", "twilio"),
            seed_contacts=opts.contacts,
            seed=opts.seed,
            webhook_base_url=f"http://127.0.0.1:{ports[0]}",
        ) as sb,
    ):
        upgrade(db_url)
        plays = write_plays(Path(tmp) / "plays.yaml")
        work = prepare(sb, db_url, plays, opts)
        engine = make_engine(db_url)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
        replicas: list[Replica] = []
        codes: dict[int, int] = {}
        try:
            launched = time.monotonic()
            for i, port in enumerate(ports):
                env = {
                    **clean,
                    **sb.env(),
                    **INTERVALS,
                    "SMSYNC_DATABASE_URL": db_url,
                    "SMSYNC_PLAYS": str(plays),
                    "SMSYNC_HTTP_PORT": str(port),
                    "SMSYNC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                    "SMSYNC_LOG_FORMAT": "json",
                    "SMSYNC_LOG_LEVEL": "info",
                }
                replicas.append(Replica(i, env, Path(tmp) / f"replica{i}.log"))
            for r in replicas:
                r.wait_up()
            deadline = launched + opts.timeout
            victim = (
                kill_leader(replicas, engine, sb, opts, watch, deadline=deadline)
                if opts.kill
                else None
            )
            if victim is not None:
                survivors = [r for r in replicas if r is not victim]
                watch_takeover(survivors, watch, limit_s=300.0)
                # the dead leader's rows wait out their (shortened) leases
                deadline = max(deadline, time.monotonic() + 420.0)
            state = wait_settled(engine, sb, deadline)
            drained_s = round(time.monotonic() - launched, 1)
            if victim is not None:
                victim_recovery(engine, watch)
                watch.reconciled = reconciled_after_kill(engine, watch)
            twilio = count_twilio(sb, work.send_bodies)
            crm = count_crm(sb, engine, work.write_ids)
        finally:
            for r in replicas:
                codes[r.index] = r.terminate()
            engine.dispose()
        lease = {
            "send": float(INTERVALS["SMSYNC_CLAIM_LEASE_S"]),
            "writeback": float(INTERVALS["SMSYNC_WRITEBACK_LEASE_S"]),
        }
        result: dict[str, Any] = {
            "replicas": opts.replicas,
            "sends": opts.sends,
            "writes": opts.writes,
            "recipients": work.recipients,
            **twilio,
            **crm,
            "sms_outbox": state["sms"],
            "crm_outbox": state["crm"],
            "inbox_unprocessed": state["inbox"]["unprocessed"],
            "killed_replica": watch.victim,
            "killed_jobs": watch.victim_jobs,
            "killed_by": watch.killed_by,
            "sent_at_kill": watch.sent_at_kill,
            "in_flight_at_kill": {k: len(v) for k, v in watch.in_flight.items()},
            "takeover_s": watch.takeover_s,
            "new_leaders": watch.new_leaders,
            "max_takeover_s": max(watch.takeover_s.values(), default=None),
            "first_send_after_kill_s": watch.first_send_after_kill_s,
            "in_flight_settled_s": watch.recovered_s,
            "in_flight_reconciled": watch.reconciled,
            "lease_s": lease,
            "drained_s": drained_s,
            "wall_s": round(time.monotonic() - started, 1),
            "exit_codes": {
                str(i): c for i, c in codes.items() if watch.victim is None or i != watch.victim
            },
            "sandbox_records_written": {
                v: sb.state.stats.records_written(v) for v in ("salesforce", "twilio")
            },
        }
        result["ok"] = verdict(result, opts)
        if not result["ok"]:
            result["log_tails"] = {str(r.index): r.tail() for r in replicas}
        return result


def verdict(result: dict[str, Any], opts: Options) -> bool:
    """Every acceptance check of issue 9 #2 at once."""
    sms_open = sum(n for s, n in result["sms_outbox"].items() if s != "sent")
    crm_open = sum(n for s, n in result["crm_outbox"].items() if s != "done")
    checks = [
        result["twilio_outbound"] == opts.sends,
        result["sends_missing"] == 0,
        result["sends_duplicated"] == 0,
        result["texts_not_queued"] == 0,
        result["sent_rows_distinct_sids"] == opts.sends,
        result["crm_expected"] == opts.writes + opts.sends,
        result["crm_missing"] == 0,
        result["crm_duplicated"] == 0,
        result["crm_ids_held_twice"] == 0,
        sms_open == 0,
        crm_open == 0,
        result["inbox_unprocessed"] == 0,
        all(code == 0 for code in result["exit_codes"].values()),
    ]
    if opts.kill:
        lease = result["lease_s"]["send"]
        checks += [
            result["killed_replica"] is not None,
            set(result["takeover_s"]) == set(result["killed_jobs"]),
            result["max_takeover_s"] is not None and result["max_takeover_s"] < 2 * lease,
        ]
    return all(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=300, help="seeded CRM contacts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="a Postgres URL scoped to a schema")
    parser.add_argument("--no-kill", action="store_true", help="do not kill the send leader")
    parser.add_argument("--kill-at", type=float, default=0.3, help="share sent before the kill")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to drain")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.replicas < 2 or args.sends < 1 or args.writes < 0 or not 0 < args.kill_at < 1:
        parser.error("--replicas >= 2, --sends >= 1, --writes >= 0, 0 < --kill-at < 1")
    opts = Options(
        replicas=args.replicas,
        sends=args.sends,
        writes=args.writes,
        contacts=args.contacts,
        seed=args.seed,
        database_url=args.database_url,
        kill=not args.no_kill,
        kill_at=args.kill_at,
        timeout=args.timeout,
    )
    result = run(opts)
    if not args.json:
        print(
            f"{opts.replicas} replicas: {result['twilio_outbound']} texts for {opts.sends} queued"
            f" ({result['sends_duplicated']} twice), {result['crm_expected']} CRM writes"
            f" ({result['crm_missing']} missing, {result['crm_duplicated']} twice); leader"
            f" {result['killed_replica']} killed, its jobs taken over in"
            f" {result['max_takeover_s']} s; drained in {result['drained_s']} s"
        )
    print(json.dumps(result, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
