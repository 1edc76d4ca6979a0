"""Rate-limit ceiling of the HubSpot adapter (acceptance 4), on the real clock.

The sandbox serves HubSpot's Starter limit (100 calls per rolling 10 s, no Retry-After on
429s) with 50 ms latency. Phase A writes N SMS activities; phase B writes N more and
forgets the limiter's view half-way (what a restart does), so only the rate-limit headers
can tell it how full the window is. Prints one JSON object on its last line:
`{records, api_calls, wall_s, records_per_s, ceiling_records_per_s, ratio,
throttled_429_a, throttled_429_b, windows_b}`; ratio = records_per_s / ceiling."""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime

import pytest

from connector.config import load_mapping, load_settings
from connector.crm.hubspot.client import HubSpotCrm
from connector.crm.hubspot.limiter import TIERS
from connector.domain.model import CrmRef, CrmWrite
from connector.sandbox.faults import FaultSpec
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox

CHUNK = 1_000  # records per crm.write, as the writeback engine claims them
PER_WINDOW, WINDOW_S, PER_CALL = 100, 10.0, 100


def _writes(start: int, n: int, contacts: int) -> list[CrmWrite]:
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    return [
        CrmWrite(
            "activity",
            f"sms:SM{i:032x}",
            CrmRef("contacts", str(100_001 + i % contacts)),
            {"message_sid": f"SM{i:032x}", "direction": "outbound", "body": "Hi", "at": at},
        )
        for i in range(start, start + n)
    ]


def _run(crm: HubSpotCrm, writes: list[CrmWrite], *, reset_at: int | None = None) -> int:
    failed = 0
    for start in range(0, len(writes), CHUNK):
        if reset_at is not None and start >= reset_at:
            crm.api.limiter.reset_view()
            reset_at = None
        failed += sum(not r.ok for r in crm.write(writes[start : start + CHUNK]))
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="writes per phase")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args()
    contacts = 200
    with Sandbox(vendors=("hubspot",)) as sb:
        emulator = sb.emulators["hubspot"]
        emulator.seed(generate(contacts, seed=1))
        sb.state.faults.set("hubspot", FaultSpec(latency_ms=args.latency_ms))
        with pytest.MonkeyPatch.context() as mp:
            for key, value in sb.env().items():
                mp.setenv(key, value)
            mp.setenv("SMSYNC_CRM", "hubspot")
            settings = load_settings()
        mapping = load_mapping("mappings/hubspot.yaml")
        crm = HubSpotCrm.from_settings(settings, mapping, tier=TIERS["starter"])
        stats = sb.state.stats
        t0 = time.monotonic()
        calls0 = crm.api.calls
        failed = _run(crm, _writes(0, args.records, contacts))
        throttled_a = stats.snapshot()["hubspot"]["throttled_429"]
        b_start = time.monotonic()
        failed += _run(
            crm, _writes(args.records, args.records, contacts), reset_at=args.records // 2
        )
        wall = time.monotonic() - t0
        throttled_b = stats.snapshot()["hubspot"]["throttled_429"] - throttled_a
        calls = crm.api.calls - calls0
    records = 2 * args.records
    ceiling = PER_WINDOW * PER_CALL / WINDOW_S
    rate = records / wall
    out = {
        "crm": "hubspot",
        "records": records,
        "failed": failed,
        "api_calls": calls,
        "wall_s": round(wall, 2),
        "records_per_s": round(rate, 1),
        "ceiling_records_per_s": ceiling,
        "ratio": round(rate / ceiling, 3),
        "throttled_429_a": throttled_a,
        "throttled_429_b": throttled_b,
        "windows_b": math.ceil((time.monotonic() - b_start) / WINDOW_S),
    }
    if not args.json:
        print(f"{records} writes in {wall:.1f} s: {rate:.0f}/s, {out['ratio']:.0%} of the ceiling")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
