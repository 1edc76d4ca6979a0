"""A first pull at scale: N sandbox contacts through pull, map, store, signals and plan.

    python scripts/bench_scale.py --contacts 100000 --crm salesforce|hubspot \
        --db sqlite|postgres --json

The sandbox runs in its own process (`smsync sandbox serve`), so the CPU time and the peak
RSS measured are the connector's alone. On a small machine the sandbox's own throughput
bounds the wall time, so `contacts_per_cpu_s` (contacts per CPU-second of this process)
is the figure for "contacts per core". In the same run, a sample of the contacts goes
through the naive per-row path the pull used before batching (one read, one upsert and
the consent look-ups per record, no prefetch), into a fresh store of its own, and
`speedup_vs_per_row` is the ratio of contacts per CPU-second of the two.

`api_floor_calls` is what the page sizes allow: per object pulled, ceil(records / page)
(Salesforce 2000 a query page, HubSpot 100 a list page), plus one read of the owner
directory, plus on HubSpot the one search that reads the newest change; on Salesforce an
object above `SMSYNC_SF_BULK_THRESHOLD` counts its Bulk API 2.0 job instead (describe,
create, one poll, one results call per 5,000 rows) and each object its COUNT().
`api_floor_calls_rest` is the floor had every object been read by REST pages.
`timed_scan_s` is one whole run of the timed triggers over the pulled store (the index
scan and the planning of each send found due); `timed_due`, `timed_sends_planned` and
`timed_rebuilt` say what it read, planned, and rebuilt of the index (0: the first pull
built it).

The last line is one JSON object."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
SALESFORCE_PAGE = 2000
HUBSPOT_LIST_PAGE = 100


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def api_floor(
    crm: str, by_object: dict[str, int], *, counts: bool = False, bulk_above: int = 0
) -> int:
    """The calls the page sizes allow: each object's pages, plus one read of the owner
    directory (and, on HubSpot, the one search for the newest change; on Salesforce with
    the Bulk threshold on, the one COUNT() per object that chooses REST or Bulk). An object
    with more rows than `bulk_above` (> 0) is read by a Bulk API 2.0 job: its describe,
    the job's create, at least one poll, and one results call per `MAX_RECORDS` rows."""
    from connector.crm.salesforce.bulk import MAX_RECORDS

    page = SALESFORCE_PAGE if crm == "salesforce" else HUBSPOT_LIST_PAGE
    pages = sum(
        3 + math.ceil(n / MAX_RECORDS)
        if crm == "salesforce" and 0 < bulk_above < n
        else max(1, math.ceil(n / page))
        for n in by_object.values()
    )
    return pages + 1 + (crm == "hubspot") + (len(by_object) if counts else 0)


def stored_by_object(ctx: Any) -> dict[str, int]:
    import sqlalchemy as sa

    from connector.store.tables import contact_state as t

    with ctx.store.begin() as conn:
        rows = conn.execute(
            sa.select(t.c.crm_object_type, sa.func.count()).group_by(t.c.crm_object_type)
        )
        return {str(kind): int(n) for kind, n in rows}


@contextlib.contextmanager
def sandbox(contacts: int) -> Iterator[dict[str, Any]]:
    cmd = [str(ROOT / ".venv" / "bin" / "smsync"), "sandbox", "serve"]
    cmd += ["--seed-contacts", str(contacts)]
    env = {**os.environ, "SMSYNC_LOG_LEVEL": "warning"}
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=120)


@contextlib.contextmanager
def fresh_store(db: str, tmp: Path, name: str) -> Iterator[str]:
    from connector.store.migrate import upgrade

    if db == "sqlite":
        url = f"sqlite:///{tmp / (name + '.db')}"
        upgrade(url)
        yield url
        return
    from _harness import scratch_db

    with scratch_db(None, prefix=f"smsync_bench_{name}") as url:
        upgrade(url)
        yield url


def calls(info: dict[str, Any], crm: str) -> Counter[str]:
    """The sandbox's count of this CRM's API calls, by endpoint."""
    session = requests.Session()
    session.trust_env = False
    stats = session.get(f"{info['admin']}/__sandbox/stats", timeout=30).json()
    out: Counter[str] = Counter()
    for endpoint, n in stats[crm]["calls_by_endpoint"].items():
        out[_LOCATOR.sub("/{next page}", endpoint)] += n  # Salesforce's nextRecordsUrl
    return out


_LOCATOR = re.compile(r"/01g[0-9A-Za-z]+-\d+$")


def engine(crm: str, url: str) -> Any:
    from connector.config import load_settings
    from connector.runtime.wiring import build

    os.environ["SMSYNC_CRM"] = crm
    os.environ["SMSYNC_DATABASE_URL"] = url
    os.environ["SMSYNC_MAPPINGS"] = str(ROOT / "mappings" / f"{crm}.yaml")
    return build(load_settings()).engine


def per_row_sample(crm: str, url: str, sample: int) -> dict[str, float]:
    """The naive path on `sample` contacts: each record read, upserted, diffed, its consent
    looked up and its sends planned in round trips of its own (what pull.py did before
    batching); contacts per CPU-second."""
    from connector.domain import consent as consent_rules
    from connector.domain.model import ConsentStatus
    from connector.domain.signals import changes
    from connector.engine import consent_sync, journey
    from connector.engine.owners import with_owner_names
    from connector.store import consent, contacts

    ctx = engine(crm, url)
    done = 0
    started = cpu_s()
    batches = ctx.crm.pull(None)
    try:
        for batch in batches:
            owners = ctx.owner_names.lookup(ctx.crm, (c.owner_id or "" for c in batch.contacts))
            with ctx.store.begin() as conn:
                now = ctx.clock.now()
                for contact in with_owner_names(batch.contacts, owners):
                    previous = contacts.get(conn, contact.ref)
                    contacts.upsert(conn, contact, now)
                    signals = changes(previous, contact, new_record_signals=False)
                    journey.after_pull(ctx.mapping, conn, previous, contact, now)
                    phone = contact.phone
                    if phone and not contact.deleted:
                        if contact.consent is not ConsentStatus.UNKNOWN:
                            decision = consent_rules.decide_crm_consent(
                                consent.history(conn, phone),
                                contact.consent,
                                None,
                                None,
                                phone=phone,
                                observed_at=now,
                                evidence_text=f"CRM field on {contact.ref}",
                            )
                            if decision.record is not None:
                                consent_sync.record_event(conn, decision.record, now)
                        consent_sync.correct(conn, phone, now)
                    if ctx.planner is not None and not contact.deleted:
                        ctx.planner.plan(conn, contact, signals, now)
                    done += 1
            if done >= sample:
                break
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    spent = cpu_s() - started
    ctx.store.close()
    return {"contacts": done, "cpu_s": spent, "contacts_per_cpu_s": done / max(spent, 1e-9)}


def run(
    contacts: int, crm: str, db: str, sample: int, profile: Path | None = None
) -> dict[str, Any]:
    from _memory import peak_rss_mb, reset_peak, rss_mb

    from connector.engine import pull, timed
    from connector.logs import configure

    configure(level="warning")
    with (
        sandbox(contacts) as info,
        tempfile.TemporaryDirectory(prefix="smsync-bench-scale-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        os.environ.update(info["env"])
        with fresh_store(db, tmp, "naive") as url:
            baseline = per_row_sample(crm, url, min(sample, contacts))
        with fresh_store(db, tmp, "batched") as url:
            ctx = engine(crm, url)
            calls_before = calls(info, crm)
            gc.collect()
            reset_peak()  # the pull's own peak, not the per-row sample's before it
            rss_before = rss_mb()
            cpu_before = cpu_s()
            started = time.perf_counter()
            if profile is None:
                report = pull.run(ctx)
            else:
                profiler = cProfile.Profile()
                report = profiler.runcall(pull.run, ctx)
                profiler.dump_stats(profile)
            wall = time.perf_counter() - started
            spent = cpu_s() - cpu_before
            by_endpoint = calls(info, crm) - calls_before
            peak = peak_rss_mb()
            scan_started = time.perf_counter()
            scanned = timed.run(ctx)
            timed_scan = time.perf_counter() - scan_started
            counts = crm == "salesforce" and ctx.settings.sf_bulk_threshold > 0
            stored = stored_by_object(ctx)
            floor = api_floor(crm, stored, counts=counts, bulk_above=ctx.settings.sf_bulk_threshold)
            rest_floor = api_floor(crm, stored, counts=counts)
            ctx.store.close()
    rate = report.contacts / max(spent, 1e-9)
    return {
        "crm": crm,
        "db": db,
        "contacts": report.contacts,
        "api_calls": by_endpoint.total(),
        "api_calls_by_endpoint": dict(sorted(by_endpoint.items())),
        "api_floor_calls": floor,
        "api_floor_calls_rest": rest_floor,
        "wall_s": round(wall, 2),
        "contacts_per_s": round(report.contacts / max(wall, 1e-9), 1),
        "cpu_s": round(spent, 2),
        "contacts_per_cpu_s": round(rate, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_before_pull_mb": round(rss_before, 1),
        "timed_scan_s": round(timed_scan, 3),
        "timed_due": scanned.due,
        "timed_rebuilt": scanned.rebuilt,
        "timed_sends_planned": scanned.sends_planned,
        "per_row_sample": baseline["contacts"],
        "per_row_contacts_per_cpu_s": round(baseline["contacts_per_cpu_s"], 1),
        "speedup_vs_per_row": round(rate / max(baseline["contacts_per_cpu_s"], 1e-9), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sample", type=int, default=2000, help="contacts on the per-row path")
    parser.add_argument("--profile", type=Path, help="write the pull's cProfile stats here")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.sample < 1:
        parser.error("--contacts and --sample must be at least 1")
    result = run(args.contacts, args.crm, args.db, args.sample, args.profile)
    if not args.json:
        print(
            f"first pull of {result['contacts']} {args.crm} contacts on {args.db}: "
            f"{result['contacts_per_s']}/s wall, {result['contacts_per_cpu_s']}/CPU-s, "
            f"peak RSS {result['peak_rss_mb']} MB, {result['api_calls']} calls "
            f"(floor {result['api_floor_calls']}), x{result['speedup_vs_per_row']} per-row"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT))
    main()
