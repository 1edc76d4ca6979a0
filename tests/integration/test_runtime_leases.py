"""Advisory-lock leadership on the local Postgres: one replica leads each job, and when the
leader's connection dies the next replica to ask takes over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from connector.runtime.leases import Leader
from connector.store import make_engine
from tests.integration.store_fixtures import postgres_base_url, scratch_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    # the scratch schema is the lock namespace: advisory locks are database-wide
    with scratch_postgres(postgres_base_url()) as scratch:
        yield scratch


@pytest.fixture
def leaders(url: str) -> Iterator[tuple[Leader, Leader]]:
    a, b = Leader(url), Leader(url)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def terminate(url: str, pid: int) -> None:
    """What the leader's death looks like to Postgres: its session goes away."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
    finally:
        engine.dispose()


def test_only_one_replica_leads_a_job_and_keeps_leading(leaders: tuple[Leader, Leader]) -> None:
    a, b = leaders
    assert a.leads("writeback")
    assert not b.leads("writeback")
    assert a.leads("writeback")  # held, re-confirmed
    assert not b.leads("writeback")
    assert b.leads("pull")  # each job has its own lock
    assert not a.leads("pull")


def test_the_leaders_death_hands_the_job_to_another_replica(
    url: str, leaders: tuple[Leader, Leader]
) -> None:
    a, b = leaders
    assert a.leads("writeback")
    assert not b.leads("writeback")
    pid = a.pid
    assert pid is not None
    terminate(url, pid)
    assert b.leads("writeback")
    assert not a.leads("writeback")  # the old leader notices, and does not run beside it
    assert not a.leads("writeback")


def test_closing_the_leader_releases_its_jobs(leaders: tuple[Leader, Leader]) -> None:
    a, b = leaders
    assert a.leads("sweep")
    a.close()
    assert b.leads("sweep")
    assert not a.leads("sweep")  # a closed leader never leads again


def test_other_schemas_do_not_share_leadership(leaders: tuple[Leader, Leader]) -> None:
    a, _ = leaders
    with scratch_postgres(postgres_base_url()) as other_url:
        other = Leader(other_url)
        try:
            assert a.leads("send")
            assert other.leads("send")
        finally:
            other.close()
