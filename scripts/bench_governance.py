"""Governance speed: decisions per second on one core, policy and contact state in memory.

The policy and plays come from mappings/plays.yaml (validated against the Salesforce
mapping). Contacts are a realistic mix: US numbers across zones (some multi-zone area
codes, some with a CRM zone), mostly opted in, a few opted out or with open tasks, each
with a short send history. Candidates are every play, at instants spread over a year (so
DST, quiet hours and caps all come into play), plus some manual sends and auto-replies.

    python scripts/bench_governance.py --decisions 200000 --json

The last line is one JSON object: {decisions, contacts, wall_s, decisions_per_s,
verdicts, top_reasons}."""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import load_mapping, load_plays, to_policy
from connector.domain.caps import SendKind, SentRecord
from connector.domain.governance import ContactContext, SendCandidate, evaluate, number_facts
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.domain.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
# Area codes across the US zones, with 907 (Alaska: two zones) and a few landlines' regions.
AREA_CODES = ("212", "312", "415", "303", "602", "808", "907", "305", "512", "617", "206")
REGIONS = ("CA", "NY", "TX", "FL", "OK", "WA", None)
STAGES = ("new", "working", "sql", "opportunity", "customer", "disqualified", "lead")


def contacts(n: int, rng: random.Random, start: datetime) -> list[ContactContext]:
    out = []
    for i in range(n):
        area = rng.choice(AREA_CODES)
        phone = f"+1{area}{rng.randint(2, 9)}{rng.randint(0, 99):02d}{rng.randint(0, 9999):04d}"
        consent = rng.choices(
            (ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN, ConsentStatus.OPTED_OUT), (85, 10, 5)
        )[0]
        zones = TimeZones(("America/Chicago",), TzSource.CRM_FIELD) if i % 7 == 0 else None
        region = rng.choice(REGIONS)
        state = ContactState(
            ref=CrmRef("Lead", f"00Q{i:012d}"),
            phone=phone,
            time_zones=zones,
            owner_id="005000000000001",
            lifecycle_stage=rng.choice(STAGES),
            active_motion=rng.choice((None, None, "renewal_reminder", "speed_to_lead")),
            consent=consent,
            segments={"region": region} if region else {},
        )
        sends = tuple(
            SentRecord(
                start + timedelta(hours=rng.randint(-24 * 14, 24 * 200)),
                SendKind.PLAY,
                rng.choice(("speed_to_lead", "reactivation", "renewal_reminder")),
            )
            for _ in range(rng.randint(0, 6))
        )
        values = {
            "first_name": rng.choice(("Ann", "Bo", "", "Chen")),
            "owner_name": "Dana Reyes",
            "owner_first_name": "Dana",
            "meeting_time": "15:30",
            "meeting_date": "Tue 4 Mar",
            "renewal_date": "1 April",
            "company": rng.choice(("Acme", None)),
        }
        out.append(
            ContactContext(
                state,
                values,
                sends,
                last_inbound_at=start - timedelta(hours=rng.randint(1, 2000)),
                open_task=rng.random() < 0.05,
                not_now_at=None if rng.random() < 0.9 else start - timedelta(days=3),
            )
        )
    return out


def candidates(policy: Policy, n: int, rng: random.Random) -> list[SendCandidate]:
    plays = list(policy.plays.values())
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.9:
            out.append(SendCandidate(SendKind.PLAY, rng.choice(plays)))
        elif roll < 0.97:
            out.append(SendCandidate(SendKind.MANUAL, body="Quick question about your demo"))
        else:
            out.append(SendCandidate(SendKind.HELP_REPLY, body="Acme: reply STOP to opt out"))
    return out


def run(decisions: int, contact_count: int, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml", mapping))
    start = datetime(2025, 1, 6, 12, tzinfo=UTC)
    people = contacts(contact_count, rng, start)
    pool = candidates(policy, 4096, rng)
    jobs = []
    for i in range(decisions):
        candidate = pool[i % len(pool)]
        now = start + timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        if candidate.kind is SendKind.PLAY:
            candidate = SendCandidate(SendKind.PLAY, candidate.play, now - timedelta(minutes=5))
        jobs.append((candidate, people[i % len(people)], now))
    # The numbering-plan facts of each number (valid, landline, zones) are part of the
    # contact state held in memory: computed once per number, as the pull stage would.
    for person in people:
        if person.state.phone:
            number_facts(person.state.phone)
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    began = time.perf_counter()
    for candidate, ctx, now in jobs:
        result = evaluate(candidate, ctx, policy, now)
        verdicts[result.verdict.value] += 1
        for reason in result.reasons:
            reasons[reason.code] += 1
    wall = time.perf_counter() - began
    return {
        "decisions": decisions,
        "contacts": contact_count,
        "wall_s": round(wall, 4),
        "decisions_per_s": round(decisions / wall) if wall > 0 else 0,
        "verdicts": dict(verdicts),
        "top_reasons": dict(reasons.most_common(10)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    result = run(args.decisions, args.contacts, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
