"""Writeback settles every claimed row exactly once, whatever the adapter answers.

The CRM here is a scripted port (the adapters are tested against the sandbox); the store
is the real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.errors import AuthError, QuotaExhaustedError, RateLimitedError, RetriableError
from connector.ports import Cursor, Owner, PullBatch
from connector.store import SqlStore, crm_outbox, failure_ledger
from connector.store.tables import crm_outbox as outbox_table
from tests.migrated import upgrade


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


class ScriptedCrm:
    """Answers each write by its external id's prefix: ok, lock (retriable), bad, gone."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.quota = False
        self.revoked = False
        self.throttled: float | None = None  # Retry-After of a whole-batch 429; -1: none sent
        self.failing = False  # a whole-batch 5xx / reset (RetriableError)
        self.probes = 0

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        return iter(())

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        return []

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        return {}

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}

    def probe(self) -> None:
        self.probes += 1
        self._refuse()

    def _refuse(self) -> None:
        if self.revoked:
            raise AuthError("the CRM refused our credentials")
        if self.quota:
            raise QuotaExhaustedError("daily API allocation used up to the configured 80%")

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        self.calls.append([w.external_id for w in writes])
        self._refuse()
        if self.throttled is not None:
            after = None if self.throttled < 0 else self.throttled
            raise RateLimitedError("HTTP 429", retry_after=after)
        if self.failing:
            raise RetriableError("HTTP 503")
        out = []
        for w in writes:
            kind = w.external_id.split(":")[1]
            if kind == "ok":
                out.append(WriteResult(w.external_id, ok=True, crm_id="X" + w.external_id))
            elif kind == "lock":
                out.append(
                    WriteResult(
                        w.external_id, ok=False, error_code="UNABLE_TO_LOCK_ROW", retriable=True
                    )
                )
            elif kind == "gone":
                out.append(
                    WriteResult(
                        w.external_id, ok=False, error_code="ENTITY_IS_DELETED", orphaned=True
                    )
                )
            else:
                out.append(WriteResult(w.external_id, ok=False, error_code="INVALID_FIELD"))
        return out


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    return SqlStore.from_url(url)


def _enqueue(store: SqlStore, clock: Clock, *ids: str) -> None:
    with store.begin() as conn:
        for ext in ids:
            crm_outbox.enqueue(
                conn,
                CrmWrite("activity", ext, CrmRef("Lead", "00Q1"), {"body": "hi"}),
                clock.now(),
            )


def test_each_outcome_is_settled_and_ledgered(store: SqlStore) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1", "sms:ok:2", "sms:lock:3", "sms:bad:4", "sms:gone:5")
    wb = Writeback(store, crm, clock, "salesforce", "w1")
    report = wb.drain()
    assert (report.written, report.retrying, report.dead, report.orphaned) == (2, 1, 1, 1)
    assert len(crm.calls) == 1
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"done": 2, "pending": 1, "failed": 1, "dead": 1}
        open_keys = {e.key: e.reason_code for e in failure_ledger.list_open(conn)}
    assert open_keys == {
        "sms:lock:3": "UNABLE_TO_LOCK_ROW",
        "sms:bad:4": "INVALID_FIELD",
        "sms:gone:5": "ENTITY_IS_DELETED",
    }
    # the retriable one waits for its backoff, then goes again next cycle
    assert wb.drain().claimed == 0
    clock.t += timedelta(minutes=5)
    again = wb.drain()
    assert again.claimed == 1
    assert crm.calls[-1] == ["sms:lock:3"]
    with store.begin() as conn:
        entry = failure_ledger.get_open(conn, "crm", "sms:lock:3")
    assert entry is not None
    assert entry.attempts == 2


def test_retries_are_bounded(store: SqlStore) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:lock:1")
    wb = Writeback(store, crm, clock, "hubspot", "w1", WritebackPolicy(max_attempts=3))
    for _ in range(6):
        wb.drain()
        clock.t += timedelta(hours=2)
    assert len(crm.calls) == 3
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"dead": 1}


def _attempts(store: SqlStore, ext: str) -> int:
    with store.begin() as conn:
        row = crm_outbox.get(conn, ext)
    assert row is not None
    return row.attempts


def test_quota_stop_keeps_state_and_resumes_once_the_usage_says_so(store: SqlStore) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1", "sms:ok:2")
    crm.quota = True
    wb = Writeback(store, crm, clock, "salesforce", "w1")
    report = wb.drain()
    assert report.stopped == "quota"
    assert report.written == 0
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"pending": 2}
    assert _attempts(store, "sms:ok:1") == 0  # a stop is not the record's attempt
    # paused: nothing is claimed or probed before the quota probe is due (60 s)
    clock.t += timedelta(seconds=30)
    assert wb.drain().stopped == "quota"
    assert (len(crm.calls), crm.probes) == (1, 0)
    clock.t += timedelta(seconds=30)
    assert wb.drain().stopped == "quota"  # the usage is still past the share
    assert (len(crm.calls), crm.probes) == (1, 1)
    crm.quota = False
    clock.t += timedelta(seconds=60)
    assert wb.drain().written == 2
    assert crm.probes == 2


def test_auth_stop_probes_every_10_s_and_writes_as_soon_as_the_crm_takes_them(
    store: SqlStore,
) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1")
    crm.revoked = True
    wb = Writeback(store, crm, clock, "salesforce", "w1")
    assert wb.drain().stopped == "auth"
    for _ in range(3):  # revoked for a while: one probe per 10 s, no batch spent
        clock.t += timedelta(seconds=10)
        assert wb.drain().stopped == "auth"
    assert (len(crm.calls), crm.probes) == (1, 3)
    crm.revoked = False
    clock.t += timedelta(seconds=4)
    assert wb.drain().stopped == "auth"  # not due yet
    wb.pause.poke()  # /readyz saw the CRM come back
    report = wb.drain()
    assert (report.stopped, report.written) == (None, 1)
    assert crm.probes == 4
    assert _attempts(store, "sms:ok:1") == 1


def _next_attempt(store: SqlStore, ext: str) -> datetime:
    with store.begin() as conn:
        found = conn.execute(
            sa.select(outbox_table.c.next_attempt_at).where(outbox_table.c.external_id == ext)
        ).scalar_one()
    assert isinstance(found, datetime)
    return found


def _failures(wb: Writeback, crm: ScriptedCrm, clock: Clock, n: int) -> None:
    """`n` failed batches, the job ticking once a second in between."""
    for _ in range(n):
        before = len(crm.calls)
        while len(crm.calls) == before:
            clock.t += timedelta(seconds=1)
            wb.drain()


def test_a_failing_batch_waits_at_most_60_s_unless_the_vendor_asks_for_longer(
    store: SqlStore,
) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1")
    crm.failing = True  # 503s
    wb = Writeback(store, crm, clock, "hubspot", "w1")
    _failures(wb, crm, clock, 4)
    assert _next_attempt(store, "sms:ok:1") - clock.t == timedelta(seconds=60)  # 30, then capped
    crm.failing = False
    crm.throttled = 120.0  # the vendor says how long
    clock.t = _next_attempt(store, "sms:ok:1")
    wb.drain()
    assert _next_attempt(store, "sms:ok:1") - clock.t == timedelta(seconds=120)
    crm.throttled = None
    clock.t = _next_attempt(store, "sms:ok:1")
    assert wb.drain().written == 1


def test_a_429_storm_never_uses_up_attempts_and_waits_30_s_each_time(store: SqlStore) -> None:
    """However long the CRM throttles, the write is not dead-lettered, and each throttled
    batch comes back 30 s later (the CRM's pace, not the write's failure)."""
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1")
    crm.throttled = -1  # 429s without Retry-After
    wb = Writeback(store, crm, clock, "hubspot", "w1", WritebackPolicy(max_attempts=2))
    _failures(wb, crm, clock, 12)
    assert _next_attempt(store, "sms:ok:1") - clock.t == timedelta(seconds=30)
    assert _attempts(store, "sms:ok:1") == 0
    crm.throttled = None
    clock.t = _next_attempt(store, "sms:ok:1")
    assert wb.drain().written == 1


def test_quota_stops_never_use_up_attempts(store: SqlStore) -> None:
    """Days of budget stops are not the rows' failures: they are not dead-lettered."""
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1")
    crm.quota = True
    wb = Writeback(store, crm, clock, "salesforce", "w1", WritebackPolicy(max_attempts=2))
    for _ in range(5):
        assert wb.drain().stopped == "quota"
        clock.t += timedelta(hours=1)
    with store.begin() as conn:
        row = crm_outbox.get(conn, "sms:ok:1")
    assert row is not None
    assert (row.state, row.attempts) == ("pending", 0)
    crm.quota = False
    assert wb.drain().written == 1
