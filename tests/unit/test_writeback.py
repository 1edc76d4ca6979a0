"""Writeback settles every claimed row exactly once, whatever the adapter answers.

The CRM here is a scripted port (the adapters are tested against the sandbox); the store
is the real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.errors import QuotaExhaustedError
from connector.ports import Cursor, Owner, PullBatch
from connector.store import SqlStore, crm_outbox, retry
from connector.store.migrate import upgrade


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

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        return iter(())

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        return []

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        return {}

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        self.calls.append([w.external_id for w in writes])
        if self.quota:
            raise QuotaExhaustedError("daily API allocation used up to the configured 80%")
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
        open_keys = {e.key: e.reason_code for e in retry.list_open(conn)}
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
        entry = retry.get_open(conn, "crm", "sms:lock:3")
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


def test_quota_stop_keeps_state_and_resumes(store: SqlStore) -> None:
    clock, crm = Clock(), ScriptedCrm()
    _enqueue(store, clock, "sms:ok:1", "sms:ok:2")
    crm.quota = True
    wb = Writeback(store, crm, clock, "salesforce", "w1")
    report = wb.drain()
    assert report.stopped == "quota"
    assert report.written == 0
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"pending": 2}
    crm.quota = False
    clock.t += timedelta(minutes=16)
    assert wb.drain().written == 2


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
