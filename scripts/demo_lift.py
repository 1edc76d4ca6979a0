"""The demo's world over seeded runs, read back through the report: the holdout lift on
opportunity creation with the world's effect, and with none, pooled over plays and seeds
(see `connector/demo/lift_runs.py`; the holdouts are widened so the arms are not a handful).

    .venv/bin/python scripts/demo_lift.py --crm salesforce --seeds 12 --contacts 300

Prints one JSON object: per effect, the pooled arms, the lift and its 95% interval, and
`found` (the interval excludes 0 for the positive effect) / `covers_zero` (for effect 0).
`baseline` is the naive comparison in the same runs: the effect-0 world's lift, which must
sit around 0. Exits 1 when the positive effect is not found or the zero effect is."""

from __future__ import annotations

import argparse
import json
import sys
import time

from connector.demo.funnel import DEFAULT_EFFECT
from connector.demo.lift_runs import lift_over_seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--effect", type=float, default=DEFAULT_EFFECT)
    parser.add_argument("--holdout", type=float, default=50.0)
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    started = time.monotonic()
    runs = {
        str(effect): lift_over_seeds(args.crm, seeds, args.contacts, effect, holdout=args.holdout)
        for effect in (args.effect, 0.0)
    }
    positive = runs[str(args.effect)]["opportunity_lift"]
    zero = runs["0.0"]["opportunity_lift"]
    out = {
        "crm": args.crm,
        "seeds": len(seeds),
        "contacts": args.contacts,
        "holdout_percent": args.holdout,
        "with_effect": runs[str(args.effect)],
        "baseline": runs["0.0"],
        "found": positive["ci_low"] is not None and positive["ci_low"] > 0,
        "covers_zero": zero["ci_low"] is not None and zero["ci_low"] <= 0 <= zero["ci_high"],
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out, indent=2))
    return 0 if out["found"] and out["covers_zero"] else 1


if __name__ == "__main__":
    sys.exit(main())
