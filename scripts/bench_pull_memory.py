"""Peak memory of a first pull: N sandbox contacts through the engine's pull step.

    python scripts/bench_pull_memory.py --contacts 200000 [--crm salesforce|hubspot] --json

The sandbox runs in its own process (`smsync sandbox serve`), so the peak RSS measured is
the connector's alone: the adapter's pages, the pull's per-batch transactions, the store.
The pull streams (one batch in memory at a time), so the peak must not grow with N.

The last line is one JSON object: {crm, contacts, pulled, batches, wall_s, peak_rss_mb}."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(contacts: int, crm: str) -> dict[str, Any]:
    from _memory import peak_rss_mb

    from connector.config import load_settings
    from connector.engine import pull
    from connector.logs import configure
    from connector.runtime.wiring import build
    from connector.store.migrate import upgrade

    configure(level="warning")
    cmd = [
        str(ROOT / ".venv" / "bin" / "smsync"),
        "sandbox",
        "serve",
        "--seed-contacts",
        str(contacts),
    ]
    server = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SMSYNC_LOG_LEVEL": "warning"},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        info = json.loads(line)
        with tempfile.TemporaryDirectory(prefix="smsync-bench-pull-") as tmp:
            db = f"sqlite:///{Path(tmp) / 'smsync.db'}"
            upgrade(db)
            os.environ.update(info["env"])
            os.environ["SMSYNC_CRM"] = crm
            os.environ["SMSYNC_DATABASE_URL"] = db
            os.environ["SMSYNC_MAPPINGS"] = str(ROOT / "mappings" / f"{crm}.yaml")
            ctx = build(load_settings(), planner=None).engine
            started = time.perf_counter()
            report = pull.run(ctx)
            wall = time.perf_counter() - started
            ctx.store.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    peak = peak_rss_mb()
    return {
        "crm": crm,
        "contacts": contacts,
        "pulled": report.contacts,
        "batches": report.batches,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    result = run(args.contacts, args.crm)
    if not args.json:
        print(
            f"first pull of {result['pulled']} {args.crm} contacts in {result['wall_s']} s, "
            f"peak RSS {result['peak_rss_mb']} MB"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
