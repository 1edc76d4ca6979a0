"""Lease heartbeats (issue 22): a worker keeps the claimed rows it still works on, and
only those; once its beats stop, its rows are claimable one lease later. On SQLite and
Postgres."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from connector.domain.model import CrmRef, CrmWrite
from connector.store import SqlStore, crm_outbox, inbox
from connector.store.heartbeat import Heartbeat, extend
from connector.store.tables import crm_outbox as outbox_table
from connector.store.tables import inbox as inbox_table

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _queue(store: SqlStore, n: int, at: datetime) -> None:
    with store.begin() as conn:
        for i in range(n):
            write = CrmWrite("activity", f"sms:SM{i:032x}", CrmRef("Lead", "00Q1"), {"body": "hi"})
            assert crm_outbox.enqueue(conn, write, at)


def _lease(store: SqlStore, row_id: int) -> datetime | None:
    with store.begin() as conn:
        found: datetime | None = conn.execute(
            sa.select(outbox_table.c.lease_until).where(outbox_table.c.id == row_id)
        ).scalar_one()
        return found


def test_a_beat_extends_only_the_rows_the_worker_still_holds(store: SqlStore) -> None:
    _queue(store, 3, T0)
    with store.begin() as conn:
        done, released, working = crm_outbox.claim(conn, "w1", 10, 30, T0)
    ids = [done.id, released.id, working.id]
    clock = Clock(T0 + timedelta(seconds=20))
    with store.begin() as conn:
        assert extend(conn, outbox_table, ids, worker_id="w1", lease_s=30, clock=clock) == 3
    assert _lease(store, working.id) == T0 + timedelta(seconds=50)
    with store.begin() as conn:
        assert crm_outbox.mark_done(conn, done.id, "00T1", T0, "w1")
        assert crm_outbox.retry_later(conn, released.id, "429", T0, "w1")
    clock.at = T0 + timedelta(seconds=40)
    with store.begin() as conn:
        assert extend(conn, outbox_table, ids, worker_id="w1", lease_s=30, clock=clock) == 1
    assert _lease(store, done.id) is None  # a settled row is never claimed again
    assert _lease(store, released.id) is None
    with store.begin() as conn:  # the one still held is not claimable before its new lease
        assert [r.id for r in crm_outbox.claim(conn, "w2", 10, 30, clock.at)] == [released.id]
        assert crm_outbox.mark_done(conn, released.id, "00T2", clock.at, "w2")
        assert crm_outbox.claim(conn, "w2", 10, 30, T0 + timedelta(seconds=69)) == []
        taken = crm_outbox.claim(conn, "w2", 10, 30, T0 + timedelta(seconds=71))
    assert [r.id for r in taken] == [working.id]
    clock.at = T0 + timedelta(seconds=72)
    with store.begin() as conn:  # lost to w2: w1's late beat leaves w2's lease alone
        assert extend(conn, outbox_table, ids, worker_id="w1", lease_s=30, clock=clock) == 0
    assert _lease(store, working.id) == T0 + timedelta(seconds=101)


def test_inbox_items_keep_their_lease_until_processed(store: SqlStore) -> None:
    with store.begin() as conn:
        assert inbox.insert_if_new(conn, "SM1", "inbound", {}, T0)
        assert inbox.insert_if_new(conn, "SM2", "inbound", {}, T0)
        first, second = inbox.claim(conn, "w1", 10, 30, T0)
        assert inbox.mark_processed(conn, first.id, T0, "w1")
    clock = Clock(T0 + timedelta(seconds=25))
    with store.begin() as conn:
        held = extend(
            conn, inbox_table, [first.id, second.id], worker_id="w1", lease_s=30, clock=clock
        )
        assert held == 1
        assert inbox.claim(conn, "w2", 10, 30, T0 + timedelta(seconds=40)) == []
        assert [i.id for i in inbox.claim(conn, "w2", 10, 30, T0 + timedelta(seconds=56))] == [
            second.id
        ]


def test_the_heartbeat_keeps_a_slow_batch_and_lets_a_dead_one_go(store: SqlStore) -> None:
    """Real time, small numbers: a 0.6 s lease, beats every 0.2 s."""
    clock = WallClock()
    _queue(store, 2, clock.now())
    with store.begin() as conn:
        rows = crm_outbox.claim(conn, "w1", 10, 0.6, clock.now())
    beat = Heartbeat(
        store, outbox_table, [r.id for r in rows], worker_id="w1", lease_s=0.6, clock=clock
    )
    with beat:
        time.sleep(1.2)  # twice the lease: without beats another worker would take them
        with store.begin() as conn:
            assert crm_outbox.claim(conn, "w2", 10, 0.6, clock.now()) == []
    assert beat.beats >= 4
    time.sleep(0.7)  # the beats stopped (the worker "died"): one lease later they are free
    with store.begin() as conn:
        taken = crm_outbox.claim(conn, "w2", 10, 30, clock.now())
    assert sorted(r.id for r in taken) == sorted(r.id for r in rows)
