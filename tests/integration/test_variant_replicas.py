"""#20 acceptance: the same contact gets the same variant from three replicas (three
processes, each with its own store, deciding at once on one Postgres schema) and after a
restart (a fourth process later), with nothing shared between them but the plays file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.config import load_plays, to_policy
from connector.domain.holdout import assign as holdout
from connector.domain.variants import assign
from connector.store import SqlStore
from connector.store import tables as tb
from tests.integration.store_fixtures import postgres_base_url, scratch_postgres
from tests.integration.variant_replica import contact
from tests.migrated import upgrade

ROOT = Path(__file__).resolve().parents[2]
N = 150


def _replicas(url: str, count: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.variant_replica", url, str(N)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]


def _arms(url: str) -> dict[str, list[str | None]]:
    d = tb.decision_log
    store = SqlStore.from_url(url)
    try:
        with store.begin() as conn:
            rows = conn.execute(sa.select(d.c.contact_id, d.c.variant).order_by(d.c.id)).all()
    finally:
        store.close()
    out: dict[str, list[str | None]] = {}
    for cid, variant in rows:
        out.setdefault(cid, []).append(variant)
    return out


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_three_replicas_and_a_restart_agree_on_every_contacts_variant() -> None:
    play = to_policy(load_plays(ROOT / "mappings" / "plays.yaml")).plays["speed_to_lead"]
    with scratch_postgres(postgres_base_url()) as url:
        upgrade(url)
        _replicas(url, 3)
        after_three = _arms(url)
        _replicas(url, 1)  # a restart: a new process, later
        after_restart = _arms(url)
    assert len(after_three) == N
    seen: set[str] = set()
    for i in range(N):
        ref = contact(i)
        three, four = after_three[ref.id], after_restart[ref.id]
        assert len(three) == 3
        assert len(four) == 4
        held = holdout(str(ref), play.name, play.holdout_percent).held_out
        expected = None if held else assign(str(ref), play)
        want = None if expected is None else expected.variant
        assert set(four) == {want}, (ref, four)
        seen.add(str(want))
    assert seen == {"direct", "question", "None"}  # both arms and the holdout occur
