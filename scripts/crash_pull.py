"""Crash safety of a large first pull: SIGKILL mid-batch, restart, compare with the sandbox.

    python scripts/crash_pull.py --contacts 20000 --kills 3 [--crm salesforce|hubspot] \
        [--db sqlite|postgres] --json

The sandbox runs in its own process, seeded with N contacts. The pull runs in a child
process (this script with `--child`) and is SIGKILLed K times, each time once a batch
has been committed and the next one is being applied (the kill lands at a random instant
inside the batch after), then restarted from its cursor; a last child runs to the end.
A second store gets the same first pull with no kill. Then it checks, against the
sandbox read afresh through the adapter: every CRM record is in the store once with its
latest modstamp (lost, stale), no record is there that the CRM does not have (extra),
and the crashed store equals the uncrashed one row for row in contact_state, the consent
ledger and the CRM outbox (twice: an entry in one and not the other), with the ledger's
hash chain intact. The last line is one JSON object:
{contacts, kills, lost, stale, extra, twice, chain_ok, ok}."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def child(crm: str, url: str) -> None:
    """One pull to the end (what the parent kills)."""
    from connector.config import load_settings
    from connector.engine import pull
    from connector.logs import configure
    from connector.runtime.wiring import build

    configure(level="warning")
    os.environ.update(SMSYNC_CRM=crm, SMSYNC_DATABASE_URL=url)
    os.environ["SMSYNC_MAPPINGS"] = str(ROOT / "mappings" / f"{crm}.yaml")
    ctx = build(load_settings(), planner=None).engine
    pull.run(ctx)
    ctx.store.close()


def _count(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM contact_state")).scalar_one())
    finally:
        engine.dispose()


def _spawn(crm: str, url: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--crm", crm, "--url", url]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "SMSYNC_LOG_LEVEL": "warning"})


def _kill_mid_batch(crm: str, url: str, rng: random.Random) -> bool:
    """Start a child; once it has committed a batch more than it had, SIGKILL it at a
    random instant of the next one. False when it finished first (nothing left to kill)."""
    before = _count(url)
    proc = _spawn(crm, url)
    while proc.poll() is None and _count(url) <= before:
        time.sleep(0.02)
    if proc.poll() is not None:
        return False
    time.sleep(rng.uniform(0.05, 0.4))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _finish(crm: str, url: str) -> None:
    proc = _spawn(crm, url)
    if proc.wait(timeout=3600) != 0:
        raise RuntimeError(f"the pull ended with status {proc.returncode}")


def _rows(url: str) -> dict[str, Counter[str]]:
    """The rows a pull writes, as a multiset per table, without the columns that hold
    the wall clock of the run (the ledger's observed time, the outbox key made of it)."""
    import sqlalchemy as sa

    from connector.store.tables import consent_ledger, contact_state, crm_outbox

    # contact_state.consent mirrors the CRM field as last read: a record re-read inside the
    # lookback after a restart shows the CRM's value again (the ledger, which decides,
    # and the correction queued for the CRM are compared)
    skip = {"id", "updated_at", "recorded_at", "created_at", "prev_hash", "row_hash", "at"}
    skip |= {"consent"}
    skip |= {"external_id", "due", "next_attempt_at", "lease_until", "done_at"}
    out: dict[str, Counter[str]] = {}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for table in (contact_state, consent_ledger, crm_outbox):
                cols = [c for c in table.c if c.name not in skip]
                out[table.name] = Counter(
                    json.dumps([_timeless(v) for v in row], default=str, sort_keys=True)
                    for row in conn.execute(sa.select(*cols))
                )
    finally:
        engine.dispose()
    return out


def _timeless(value: Any) -> Any:
    """An outbox write's fields without the instant the ledger observed (the run's clock)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not k.endswith("_timestamp")}
    return value


def _chain_ok(url: str) -> bool:
    import sqlalchemy as sa

    from connector.store import consent_chain
    from connector.store.tables import consent_ledger

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return consent_chain.verify(conn, consent_ledger).broken is None
    finally:
        engine.dispose()


def _crm_truth(crm: str, url: str) -> dict[tuple[str, str], Any]:
    """Every live record the CRM has, with its modstamp, read afresh through the adapter
    (`url` is a store the wiring opens; the read does not touch it)."""
    from bench_scale import engine

    ctx = engine(crm, url)
    truth: dict[tuple[str, str], Any] = {}
    for batch in ctx.crm.pull(None):
        for state in batch.contacts:
            truth[(state.ref.object_type, state.ref.id)] = state.modstamp
    ctx.store.close()
    return truth


def run(contacts: int, kills: int, crm: str, db: str, seed: int = 7) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import sqlalchemy as sa
    from bench_scale import fresh_store, sandbox

    from connector.store.tables import contact_state

    rng = random.Random(seed)
    with sandbox(contacts) as info, tempfile.TemporaryDirectory(prefix="smsync-crash-") as tmp:
        os.environ.update(info["env"])
        with (
            fresh_store(db, Path(tmp), "crashed") as crashed,
            fresh_store(db, Path(tmp), "clean") as clean,
        ):
            done = sum(_kill_mid_batch(crm, crashed, rng) for _ in range(kills))
            _finish(crm, crashed)
            _finish(crm, clean)
            truth = _crm_truth(crm, clean)
            engine = sa.create_engine(crashed)
            with engine.connect() as conn:
                stored = {
                    (r.crm_object_type, r.crm_id): r.crm_modstamp
                    for r in conn.execute(
                        sa.select(
                            contact_state.c.crm_object_type,
                            contact_state.c.crm_id,
                            contact_state.c.crm_modstamp,
                        )
                    )
                }
            engine.dispose()
            a, b = _rows(crashed), _rows(clean)
            diff = {name: (a[name] - b[name]) + (b[name] - a[name]) for name in a}
            if os.environ.get("CRASH_PULL_DEBUG"):
                for name, rows in diff.items():
                    print(name, list(rows)[:3], list(b[name] - a[name])[:3], file=sys.stderr)
            twice = sum(rows.total() for rows in diff.values())
            chain = _chain_ok(crashed)
    lost = sum(1 for ref in truth if ref not in stored)
    stale = sum(1 for ref, stamp in truth.items() if ref in stored and stored[ref] != stamp)
    extra = sum(1 for ref in stored if ref not in truth)
    return {
        "crm": crm,
        "db": db,
        "contacts": len(truth),
        "stored": len(stored),
        "kills": done,
        "lost": lost,
        "stale": stale,
        "extra": extra,
        "twice": twice,
        "chain_ok": chain,
        "ok": not (lost or stale or extra or twice) and chain and done > 0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.crm, args.url)
        return
    if args.contacts < 1 or args.kills < 1:
        parser.error("--contacts and --kills must be at least 1")
    result = run(args.contacts, args.kills, args.crm, args.db)
    if not args.json:
        print(
            f"{result['kills']} kills in a first pull of {result['contacts']} {args.crm} "
            f"records on {args.db}: lost {result['lost']}, stale {result['stale']}, "
            f"extra {result['extra']}, twice {result['twice']}"
        )
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
