"""rep_sends on SQLite and Postgres: the CRM id is the claim (concurrent passes or
replicas claim a record once), an outcome is remembered as written, and only a refused
record (nothing queued, its outcome written) is released for the rep's new request."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from connector.domain.model import CrmRef
from connector.store import rep_sends
from connector.store.database import SqlStore

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
WHO = CrmRef("Lead", "00Q000000000001AAA")


def _claim(store: SqlStore, crm_id: str, worker: str) -> bool:
    with store.begin() as conn:
        return rep_sends.claim(
            conn,
            crm_id,
            contact=WHO,
            owner_id="005000000000001AAA",
            close_follow_up=True,
            now=T0,
            worker_id=worker,
        )


def test_concurrent_claims_of_one_record_make_one_winner(store: SqlStore) -> None:
    barrier = threading.Barrier(6)
    wins: list[str] = []
    errors: list[BaseException] = []

    def claim(worker: str) -> None:
        try:
            barrier.wait(timeout=10)
            if _claim(store, "00T000000000001AAA", worker):
                wins.append(worker)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(wins) == 1
    with store.begin() as conn:
        assert rep_sends.count(conn) == 1
        assert rep_sends.claimed(conn, ["00T000000000001AAA", "00T000000000002AAA"]) == {
            "00T000000000001AAA"
        }


def test_only_a_refused_and_written_record_is_released(store: SqlStore) -> None:
    refused, sent, unwritten = "00T0000000000R1AAA", "00T0000000000S1AAA", "00T0000000000U1AAA"
    for crm_id in (refused, sent, unwritten):
        assert _claim(store, crm_id, "w")
    with store.begin() as conn:
        rep_sends.decided(conn, refused, "failed: the text is empty")
        rep_sends.written(conn, refused, "failed: the text is empty", done=True, now=T0)
        rep_sends.queued(conn, sent, f"rep:{WHO}:{sent}")
        rep_sends.written(conn, sent, "sent", done=True, now=T0)
        rep_sends.decided(conn, unwritten, "blocked: opted out")  # not on the record yet
        assert [r.crm_id for r in rep_sends.unsettled(conn)] == [unwritten]
        found = rep_sends.by_key(conn, f"rep:{WHO}:{sent}")
        assert found is not None
        assert (found.written, found.done, found.owner_id) == ("sent", True, "005000000000001AAA")
        assert rep_sends.release_refused(conn, [refused, sent, unwritten]) == 1
        assert rep_sends.claimed(conn, [refused, sent, unwritten]) == {sent, unwritten}
    assert _claim(store, refused, "w2")  # the rep's new request on the same record
