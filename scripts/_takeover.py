"""`crash_loop.py --replicas N`: how fast a dead replica's claimed CRM writes are taken over.

Starts N `smsync run` replicas on a fresh Postgres schema, slows every Salesforce call
down (the sandbox's latency fault) so that a writeback batch stays in flight for a while,
queues `--writes` CRM activity writes, and SIGKILLs the replica holding claimed CRM rows
as soon as it has claimed them. Then it watches the rows the dead replica held: a row
is taken over when another replica has claimed it or it is written. `takeover_max_s` is
the time from the kill until the last of them was taken over; with lease heartbeats it is
about one lease (SMSYNC_WRITEBACK_LEASE_S, 30 s) plus one writeback tick, and without
them it was the whole lease (300 s). Finally it waits until every write is done and
counts the CRM: one Task per external id, none missing, none twice."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _harness import Replica, free_port, scratch_db

TAKEOVER_LIMIT_S = 60.0  # issue 22: every claimed write taken over within a minute


@dataclass(frozen=True)
class TakeoverOptions:
    replicas: int
    writes: int
    contacts: int
    seed: int
    database_url: str | None
    latency_ms: float
    lease_s: float | None  # None: the default SMSYNC_WRITEBACK_LEASE_S
    interval_s: float | None  # None: the default SMSYNC_WRITEBACK_INTERVAL_S
    timeout: float


def queue_writes(db_url: str, sb: Any, n: int, seed: int) -> list[str]:
    """`n` inbound-text activities on the seeded people; their external ids."""
    from connector.domain.model import CrmRef, Direction, Message, MessageStatus
    from connector.engine import crm_records
    from connector.store import SqlStore, crm_outbox

    sf = sb.emulators["salesforce"]
    people = [
        CrmRef(obj, str(row["Id"]))
        for obj in ("Contact", "Lead")
        for row in sf.store.rows(obj).values()
        if not row.get("IsDeleted")
    ]
    now = datetime.now(UTC)
    store = SqlStore.from_url(db_url)
    ids = []
    try:
        with store.begin() as conn:
            for i in range(n):
                message = Message(
                    sid=f"SM{seed:08x}{i:024x}",
                    direction=Direction.INBOUND,
                    from_="+14155550100",
                    to="+15005550006",
                    body=f"takeover run {seed}, reply {i}",
                    status=MessageStatus.RECEIVED,
                    at=now,
                )
                write = crm_records.activity(message, people[i % len(people)])
                assert crm_outbox.enqueue(conn, write, now)
                ids.append(write.external_id)
    finally:
        store.close()
    return ids


def claimed(engine: sa.Engine) -> dict[str, list[int]]:
    """Claimed CRM outbox rows by holder."""
    from connector.store.tables import crm_outbox

    held: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for row_id, holder in conn.execute(
            sa.select(crm_outbox.c.id, crm_outbox.c.claimed_by).where(
                crm_outbox.c.state == "claimed"
            )
        ):
            held.setdefault(str(holder), []).append(int(row_id))
    return held


def taken_over(engine: sa.Engine, ids: list[int], dead: str) -> set[int]:
    """Rows of `ids` written, or claimed by someone other than the dead replica."""
    from connector.store.tables import crm_outbox as t

    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.id, t.c.state, t.c.claimed_by).where(t.c.id.in_(ids)))
        return {
            int(i)
            for i, state, holder in rows
            if state == "done" or (holder is not None and holder != dead)
        }


def outbox_states(engine: sa.Engine) -> dict[str, int]:
    from connector.store.tables import crm_outbox as t

    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))
        return {str(state): int(n) for state, n in rows}


def crm_counts(sb: Any, write_ids: list[str]) -> dict[str, int]:
    sf = sb.emulators["salesforce"]
    held: dict[str, int] = {}
    for row in list(sf.store.rows("Task").values()):
        ext = row.get("SMS_Message_Id__c")
        if ext and not row.get("IsDeleted"):
            held[str(ext)] = held.get(str(ext), 0) + 1
    return {
        "crm_missing": sum(1 for e in write_ids if held.get(e, 0) == 0),
        "crm_duplicated": sum(1 for e in write_ids if held.get(e, 0) > 1),
    }


def find_victim(engine: sa.Engine, replicas: list[Replica], deadline: float) -> Replica | None:
    """The replica that holds claimed CRM rows, as soon as one does."""
    by_worker = {r.worker_id: r for r in replicas}
    while time.monotonic() < deadline:
        for holder, ids in claimed(engine).items():
            if ids and holder in by_worker:
                return by_worker[holder]
        time.sleep(0.02)
    return None


def start(
    opts: TakeoverOptions, vendor_env: dict[str, str], db_url: str, tmp: Path
) -> list[Replica]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
    tuned = {}
    if opts.lease_s is not None:
        tuned["SMSYNC_WRITEBACK_LEASE_S"] = str(opts.lease_s)
    if opts.interval_s is not None:
        tuned["SMSYNC_WRITEBACK_INTERVAL_S"] = str(opts.interval_s)
    replicas = []
    for i in range(opts.replicas):
        env = {
            **clean,
            **vendor_env,
            **tuned,
            "SMSYNC_DATABASE_URL": db_url,
            "SMSYNC_HTTP_PORT": str(free_port()),
            "SMSYNC_LOG_FORMAT": "json",
            "SMSYNC_LOG_LEVEL": "warning",
        }
        replicas.append(Replica(i, env, tmp / f"replica{i}.log"))
    for r in replicas:
        r.wait_up()
    return replicas


def watch(
    engine: sa.Engine, held: list[int], dead: str, killed: float, deadline: float
) -> dict[int, float]:
    """Seconds from the kill until each held row was taken over."""
    seen: dict[int, float] = {}
    while len(seen) < len(held) and time.monotonic() < deadline:
        for row_id in taken_over(engine, held, dead) - set(seen):
            seen[row_id] = round(time.monotonic() - killed, 3)
        time.sleep(0.1)
    return seen


def run_takeover(opts: TakeoverOptions) -> dict[str, Any]:
    from connector.logs import configure
    from connector.sandbox.faults import FaultSpec
    from connector.sandbox.server import Sandbox
    from connector.store import make_engine
    from connector.store.migrate import upgrade

    configure(level="warning")
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="smsync-takeover-") as tmp,
        scratch_db(opts.database_url, "smsync_takeover") as db_url,
        Sandbox(
            vendors=("salesforce", "twilio"), seed_contacts=opts.contacts, seed=opts.seed
        ) as sb,
    ):
        upgrade(db_url)
        engine = make_engine(db_url)
        replicas: list[Replica] = []
        codes: dict[int, int] = {}
        result: dict[str, Any] = {"mode": "takeover", "replicas": opts.replicas}
        try:
            replicas = start(opts, sb.env(), db_url, Path(tmp))
            result["up_s"] = round(time.monotonic() - started, 1)
            # slow from now on: the batch the writeback leader claims next stays in flight
            sb.state.faults.set("salesforce", FaultSpec(latency_ms=opts.latency_ms))
            write_ids = queue_writes(db_url, sb, opts.writes, opts.seed)
            deadline = time.monotonic() + opts.timeout
            victim = find_victim(engine, replicas, deadline)
            if victim is None:
                raise RuntimeError("no replica claimed the CRM writes in time")
            victim.kill()
            killed = time.monotonic()
            result["killed_at_s"] = round(killed - started, 1)
            held = claimed(engine).get(victim.worker_id, [])
            seen = watch(engine, held, victim.worker_id, killed, deadline)
            sb.state.faults.clear("salesforce")  # measured: now drain at full speed
            states = outbox_states(engine)
            while set(states) != {"done"} and time.monotonic() < deadline:
                time.sleep(0.5)
                states = outbox_states(engine)
            drained = round(time.monotonic() - killed, 1)
        finally:
            for r in replicas:
                codes[r.index] = r.terminate()
            engine.dispose()
        times = sorted(seen.values())
        result |= {
            "writes": opts.writes,
            "killed_replica": victim.index,
            "in_flight": len(held),
            "taken_over": len(seen),
            "takeover_max_s": times[-1] if len(times) == len(held) and times else None,
            "takeover_median_s": statistics.median(times) if times else None,
            "lease_s": opts.lease_s or "default",
            "writeback_interval_s": opts.interval_s or "default",
            "latency_ms": opts.latency_ms,
            "crm_outbox": states,
            "drained_after_kill_s": drained,
            **crm_counts(sb, write_ids),
            "exit_codes": {str(i): c for i, c in codes.items() if i != victim.index},
            "wall_s": round(time.monotonic() - started, 1),
        }
        result["ok"] = bool(
            held
            and result["takeover_max_s"] is not None
            and result["takeover_max_s"] <= TAKEOVER_LIMIT_S
            and result["crm_missing"] == 0
            and result["crm_duplicated"] == 0
            and set(states) == {"done"}  # the queued writes, and any the replicas queued
            and all(c == 0 for c in result["exit_codes"].values())
        )
        if not result["ok"]:
            result["log_tails"] = {str(r.index): r.tail() for r in replicas}
        return result
