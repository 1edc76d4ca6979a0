"""The CRM-fields property of issue 15 (part 4) over many sequences, on both CRMs.

    python scripts/crm_fields_property.py --examples 2000

Runs tests/integration/test_crm_fields_property.py with SMSYNC_FIELDS_EXAMPLES set (random
sequences of replies, rep actions in the CRM (a task closed, a text back from the CRM),
sweeps and pulls per CRM; after every step
the kept fields read back from the sandbox equal the store's). `make test` runs 25 per CRM.
`--crm salesforce` runs one CRM. The last line is one JSON object: {examples_per_crm, crms,
passed, failed, wall_s, per_sequence_ms} (the wall time includes seeding each sandbox)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/integration/test_crm_fields_property.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="sequences per CRM")
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    args = parser.parse_args()
    if args.examples < 1:
        print("--examples must be at least 1", file=sys.stderr)
        return 2
    env = {**os.environ, "SMSYNC_FIELDS_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", TEST, "-p", "no:cacheprovider"]
        + ([] if args.crm == "both" else ["-k", args.crm]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    crms = 2 if args.crm == "both" else 1
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
    if done.returncode != 0:
        print(done.stdout[-4000:], file=sys.stderr)
    print(
        json.dumps(
            {
                "examples_per_crm": args.examples,
                "crms": crms,
                "passed": passed,
                "failed": failed,
                "wall_s": round(wall, 1),
                "per_sequence_ms": round(1000 * wall / (crms * args.examples), 1),
            }
        )
    )
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
