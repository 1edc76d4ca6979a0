"""One replica for test_variant_replicas: its own process and its own store on the shared
database, deciding the shipped speed_to_lead play for N contacts and logging every
decision, as the planner does (`python -m tests.integration.variant_replica URL N`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from connector.config import load_plays, to_policy
from connector.domain.caps import SendKind
from connector.domain.governance import ContactContext, SendCandidate, evaluate
from connector.domain.model import ConsentStatus, ContactState, CrmRef
from connector.engine.decisions import record
from connector.store import SqlStore

ROOT = Path(__file__).resolve().parents[2]
NOON_NY = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def contact(i: int) -> CrmRef:
    return CrmRef("Lead", f"00Q8c{i:013d}")


def run(url: str, n: int) -> None:
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml"))
    play = policy.plays["speed_to_lead"]
    store = SqlStore.from_url(url)
    try:
        for i in range(n):
            ref = contact(i)
            state = ContactState(ref=ref, phone="+12125550123", consent=ConsentStatus.OPTED_IN)
            ctx = ContactContext(state, {"first_name": "Ann", "owner_name": "Bo"})
            candidate = SendCandidate(SendKind.PLAY, play, NOON_NY)
            evaluation = evaluate(candidate, ctx, policy, NOON_NY)
            with store.begin() as conn:
                record(conn, evaluation, NOON_NY, contact=ref, phone=None, play=play.name)
    finally:
        store.close()


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
