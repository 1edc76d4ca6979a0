"""Repositories against real SQLite and Postgres databases."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
    CrmWrite,
    Decision,
    Direction,
    Message,
    MessageStatus,
    SlaKind,
    TimeZones,
    TzSource,
    Verdict,
)
from connector.ports import Cursor, Store
from connector.store import (
    consent,
    contacts,
    crm_outbox,
    cursors,
    decisions,
    failure_ledger,
    inbox,
    messages,
    sla,
    sms_outbox,
)
from connector.store import tables as tb
from connector.store.database import SqlStore

T0 = datetime(2024, 11, 4, 15, 0, tzinfo=UTC)
PHONE = "+14155550123"
LEAD = CrmRef("Lead", "00Q000000000001")
CONTACT = CrmRef("Contact", "003000000000001")


def _contact(ref: CrmRef, phone: str | None = PHONE, **kw: object) -> ContactState:
    return ContactState(ref=ref, phone=phone, **kw)  # type: ignore[arg-type]


# --- contacts ----------------------------------------------------------------------------


def test_contact_upsert_get_and_find_by_phone(store: SqlStore) -> None:
    state = _contact(
        LEAD,
        time_zones=TimeZones(("America/Chicago", "America/Denver"), TzSource.AREA_CODE),
        owner_id="005A",
        lifecycle_stage="MQL",
        segments={"tier": "gold"},
        modstamp=T0,
    )
    with store.begin() as conn:
        contacts.upsert(conn, state, T0)
        contacts.upsert(conn, _contact(CONTACT), T0)
        contacts.upsert(conn, _contact(CrmRef("Lead", "other"), phone="+14155550999"), T0)
    with store.begin() as conn:
        assert contacts.get(conn, LEAD) == state
        contacts.upsert(conn, _contact(LEAD, owner_id="005B", modstamp=T0), T0)
    with store.begin() as conn:
        got = contacts.get(conn, LEAD)
        assert got is not None
        assert got.owner_id == "005B"
        assert got.time_zones is None
        assert [c.ref for c in contacts.find_by_phone(conn, PHONE)] == [CONTACT, LEAD]
        assert contacts.get(conn, CrmRef("Lead", "missing")) is None


def test_contact_round_trips_aware_utc_modstamp(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    local = T0.astimezone(ZoneInfo("America/New_York"))
    with store.begin() as conn:
        contacts.upsert(conn, _contact(LEAD, modstamp=local), T0)
    with store.begin() as conn:
        got = contacts.get(conn, LEAD)
    assert got is not None
    assert got.modstamp == T0
    assert got.modstamp is not None
    assert got.modstamp.utcoffset() == timedelta(0)


# --- consent -----------------------------------------------------------------------------


def _consent(status: ConsentStatus, minutes: int, sid: str | None) -> ConsentRecord:
    return ConsentRecord(
        phone=PHONE,
        status=status,
        scope=ConsentScope.SENDER,
        source=ConsentSource.KEYWORD,
        at=T0 + timedelta(minutes=minutes),
        evidence_sid=sid,
        evidence_text="STOP" if status is ConsentStatus.OPTED_OUT else "START",
    )


def test_consent_is_phone_keyed_append_only_and_shared(store: SqlStore) -> None:
    with store.begin() as conn:
        contacts.upsert(conn, _contact(LEAD), T0)
        contacts.upsert(conn, _contact(CONTACT), T0)
        assert consent.status(conn, PHONE) is ConsentStatus.UNKNOWN
        assert consent.append(conn, _consent(ConsentStatus.OPTED_IN, 0, "SM1"), T0)
        assert consent.append(conn, _consent(ConsentStatus.OPTED_OUT, 5, "SM2"), T0)
        # The same STOP webhook replayed is one ledger entry.
        assert not consent.append(conn, _consent(ConsentStatus.OPTED_OUT, 5, "SM2"), T0)
        assert contacts.set_consent_for_phone(conn, PHONE, ConsentStatus.OPTED_OUT, T0) == 2
    with store.begin() as conn:
        for ref in (LEAD, CONTACT):
            state = contacts.get(conn, ref)
            assert state is not None
            assert state.phone is not None
            assert consent.status(conn, state.phone) is ConsentStatus.OPTED_OUT
            assert state.consent is ConsentStatus.OPTED_OUT
        history = consent.history(conn, PHONE)
        assert [r.status for r in history] == [ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT]
        assert history[1].evidence_sid == "SM2"
        assert consent.latest(conn, PHONE, ConsentScope.MESSAGING_SERVICE) is None
        assert consent.status(conn, "+14155550999") is ConsentStatus.UNKNOWN


def test_consent_latest_is_by_event_time_not_arrival(store: SqlStore) -> None:
    with store.begin() as conn:
        consent.append(conn, _consent(ConsentStatus.OPTED_OUT, 10, "SM2"), T0)
        consent.append(conn, _consent(ConsentStatus.OPTED_IN, 0, "SM1"), T0)  # late arrival
        assert consent.status(conn, PHONE) is ConsentStatus.OPTED_OUT
        # Entries without evidence are distinct events, never merged.
        consent.append(conn, _consent(ConsentStatus.OPTED_IN, 20, None), T0)
        consent.append(conn, _consent(ConsentStatus.OPTED_IN, 20, None), T0)
        assert len(consent.history(conn, PHONE)) == 4
        assert consent.status(conn, PHONE) is ConsentStatus.OPTED_IN


# --- inbox -------------------------------------------------------------------------------


def test_inbox_dedupes_and_claims(store: SqlStore) -> None:
    with store.begin() as conn:
        assert inbox.insert_if_new(conn, "SM1", "inbound", {"Body": "hi"}, T0)
        assert not inbox.insert_if_new(conn, "SM1", "inbound", {"Body": "again"}, T0)
        assert inbox.insert_if_new(conn, "SM2:delivered", "status", {}, T0)
    with store.begin() as conn:
        claimed = inbox.claim(conn, "w1", 10, 30, T0)
        assert [i.provider_id for i in claimed] == ["SM1", "SM2:delivered"]
        assert claimed[0].payload == {"Body": "hi"}
        assert claimed[0].attempts == 1
        assert inbox.claim(conn, "w2", 10, 30, T0) == []
        assert inbox.mark_processed(conn, claimed[0].id, T0, worker_id="w1")
        assert not inbox.mark_processed(conn, claimed[1].id, T0, worker_id="w2")
    with store.begin() as conn:
        # w1's lease on the second item ran out: it is claimable again, the first is done.
        again = inbox.claim(conn, "w2", 10, 30, T0 + timedelta(seconds=31))
        assert [i.provider_id for i in again] == ["SM2:delivered"]
        assert again[0].attempts == 2
        assert inbox.release(conn, again[0].id, "boom", T0 + timedelta(minutes=5), "w2")
        assert inbox.claim(conn, "w3", 10, 30, T0 + timedelta(minutes=1)) == []
        assert inbox.pending_count(conn) == 1


def test_inbox_concurrent_duplicates_make_one_row(store: SqlStore) -> None:
    """docs/reliability.md, fault 13: the same webhook, concurrently, to several replicas."""
    threads_n, ids = 6, [f"SMdup{i}" for i in range(5)]
    barrier = threading.Barrier(threads_n)
    wins: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            for pid in ids:
                with store.begin() as conn:
                    first = inbox.insert_if_new(conn, pid, "inbound", {"n": 1}, T0)
                if first:
                    with lock:
                        wins[pid] += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=deliver) for _ in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert errors == []
    assert wins == Counter(dict.fromkeys(ids, 1))
    with store.begin() as conn:
        assert inbox.pending_count(conn) == len(ids)


# --- outboxes ----------------------------------------------------------------------------


def _enqueue_sms(store: SqlStore, n: int, send_at: timedelta = timedelta(0)) -> None:
    with store.begin() as conn:
        for i in range(n):
            assert sms_outbox.enqueue(
                conn, f"k{i}", to=PHONE, body=f"hello {i}", send_at=T0 + send_at, now=T0
            )


def test_sms_outbox_enqueue_is_idempotent_and_waits_for_send_at(store: SqlStore) -> None:
    _enqueue_sms(store, 1, send_at=timedelta(hours=1))
    with store.begin() as conn:
        assert not sms_outbox.enqueue(conn, "k0", to=PHONE, body="other", send_at=T0, now=T0)
        assert sms_outbox.claim(conn, "w1", 10, 60, T0) == []
        rows = sms_outbox.claim(conn, "w1", 10, 60, T0 + timedelta(hours=1))
        assert [(r.body, r.reconcile_first) for r in rows] == [("hello 0", False)]
        assert sms_outbox.mark_sent(conn, rows[0].id, "SMabc", T0, worker_id="w1")
        stored = sms_outbox.by_key(conn, "k0")
        assert stored is not None
        assert (stored.state, stored.provider_sid) == ("sent", "SMabc")
        assert sms_outbox.counts(conn) == {"sent": 1}


def test_sms_outbox_expired_lease_is_reclaimed_for_reconciliation(store: SqlStore) -> None:
    _enqueue_sms(store, 2)
    with store.begin() as conn:
        first = sms_outbox.claim(conn, "dead", 10, 60, T0)
        assert len(first) == 2
    with store.begin() as conn:
        assert sms_outbox.claim(conn, "w2", 10, 60, T0 + timedelta(seconds=59)) == []
        again = sms_outbox.claim(conn, "w2", 1, 60, T0 + timedelta(seconds=61))
        # The dead worker may have sent it: the new owner must reconcile before sending.
        assert len(again) == 1
        assert again[0].reconcile_first
        assert again[0].attempts == 2
        # The dead worker's late report no longer counts.
        assert not sms_outbox.mark_sent(conn, again[0].id, "SMlate", T0, worker_id="dead")
        assert sms_outbox.mark_ambiguous(
            conn, again[0].id, "timeout", T0 + timedelta(minutes=2), worker_id="w2"
        )
    with store.begin() as conn:
        # The other expired row, then the ambiguous one once its reconcile time comes.
        other = sms_outbox.claim(conn, "w3", 10, 60, T0 + timedelta(seconds=61))
        assert [r.id for r in other] != [again[0].id]
        assert len(other) == 1
        ambiguous = sms_outbox.claim(conn, "w3", 10, 60, T0 + timedelta(minutes=2))
        assert [(r.id, r.reconcile_first) for r in ambiguous] == [(again[0].id, True)]
        assert sms_outbox.retry_later(conn, other[0].id, "429", T0 + timedelta(hours=1), "w3")
        assert sms_outbox.mark_failed(conn, ambiguous[0].id, "21610", T0, worker_id="w3")
        retried = sms_outbox.claim(conn, "w4", 10, 60, T0 + timedelta(hours=1))
        assert [(r.id, r.reconcile_first) for r in retried] == [(other[0].id, False)]


def _write(i: int) -> CrmWrite:
    return CrmWrite(
        kind="activity",
        external_id=f"sms:SM{i:04d}",
        target=LEAD,
        fields={"Subject": "SMS", "At": T0},
        owner_id="005A",
        due=T0,
    )


def test_crm_outbox_round_trip_and_idempotent_enqueue(store: SqlStore) -> None:
    with store.begin() as conn:
        assert crm_outbox.enqueue(conn, _write(1), T0)
        assert not crm_outbox.enqueue(conn, _write(1), T0)
        rows = crm_outbox.claim(conn, "w1", 200, 60, T0)
        assert len(rows) == 1
        assert rows[0].write.fields == {"Subject": "SMS", "At": T0.isoformat()}
        assert rows[0].write.target == LEAD
        assert rows[0].write.due == T0
        assert crm_outbox.mark_done(conn, rows[0].id, "00T1", T0, worker_id="w1")
        done = crm_outbox.get(conn, "sms:SM0001")
        assert done is not None
        assert (done.state, done.crm_id, done.attempts) == ("done", "00T1", 1)
        assert crm_outbox.claim(conn, "w1", 200, 60, T0 + timedelta(days=1)) == []


def _drain(store: SqlStore, workers: int, batch: int) -> Counter[int]:
    """`workers` threads claim until nothing is left; returns how often each id was handed out."""
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            while True:
                with store.begin() as conn:
                    rows = crm_outbox.claim(conn, name, batch, 300, T0)
                    for r in rows:
                        crm_outbox.mark_done(conn, r.id, None, T0, worker_id=name)
                if not rows:
                    return
                with lock:
                    seen.update(r.id for r in rows)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    return seen


def test_concurrent_claimers_never_share_a_row(store: SqlStore) -> None:
    with store.begin() as conn:
        for i in range(120):
            crm_outbox.enqueue(conn, _write(i), T0)
    seen = _drain(store, workers=4, batch=7)
    assert len(seen) == 120
    assert set(seen.values()) == {1}
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"done": 120}


@pytest.mark.postgres
def test_postgres_skip_locked_hands_other_rows_to_a_second_claimer(pg_store: SqlStore) -> None:
    store = pg_store
    assert store.dialect == "postgresql"
    with store.begin() as conn:
        for i in range(5):
            crm_outbox.enqueue(conn, _write(i), T0)
    with store.engine.connect() as a, store.engine.connect() as b:
        first = crm_outbox.claim(a, "a", 3, 60, T0)  # transaction left open: rows locked
        second = crm_outbox.claim(b, "b", 5, 60, T0)
        assert len(first) == 3
        assert len(second) == 2
        assert not {r.id for r in first} & {r.id for r in second}
        a.commit()
        b.commit()
    with store.begin() as conn:
        assert crm_outbox.claim(conn, "c", 5, 60, T0) == []


# --- messages ----------------------------------------------------------------------------


def _message(status: MessageStatus, sid: str = "SM1") -> Message:
    return Message(
        sid=sid,
        direction=Direction.OUTBOUND,
        from_="+14155550000",
        to=PHONE,
        body="hi",
        status=status,
        at=T0,
        play="welcome",
    )


def test_status_regression_is_ignored_but_kept(store: SqlStore) -> None:
    with store.begin() as conn:
        messages.upsert(conn, _message(MessageStatus.QUEUED), T0, contact=LEAD)
        assert messages.apply_status(conn, "SM1", MessageStatus.DELIVERED, at=T0, now=T0)
        assert not messages.apply_status(conn, "SM1", MessageStatus.SENT, at=T0, now=T0)
        assert not messages.apply_status(
            conn, "SM1", MessageStatus.FAILED, at=T0, now=T0, error_code=30003
        )
    with store.begin() as conn:
        got = messages.get(conn, "SM1")
        assert got is not None
        assert got.status is MessageStatus.DELIVERED
        assert got.error_code is None
        assert messages.events(conn, "SM1") == [
            (MessageStatus.DELIVERED, True),
            (MessageStatus.SENT, False),
            (MessageStatus.FAILED, False),
        ]
        assert messages.contact_of(conn, "SM1") == LEAD
        # Upserting an older snapshot does not move the status back either.
        assert messages.upsert(conn, _message(MessageStatus.SENT), T0).status is (
            MessageStatus.DELIVERED
        )
        assert [m.sid for m in messages.for_contact(conn, LEAD)] == ["SM1"]


def test_status_before_message_is_folded_in(store: SqlStore) -> None:
    with store.begin() as conn:
        assert not messages.apply_status(
            conn, "SM9", MessageStatus.UNDELIVERED, at=T0, now=T0, error_code=30006
        )
        stored = messages.upsert(conn, _message(MessageStatus.QUEUED, sid="SM9"), T0)
        assert (stored.status, stored.error_code) == (MessageStatus.UNDELIVERED, 30006)


# --- cursors, decisions, SLA, retry ledger -----------------------------------------------


def test_cursor_round_trip(store: SqlStore) -> None:
    with store.begin() as conn:
        assert cursors.get(conn, "salesforce:Lead") is None
        cursors.set_(conn, "salesforce:Lead", Cursor(T0, "00Q1"), T0)
        cursors.set_(conn, "salesforce:Lead", Cursor(T0 + timedelta(seconds=1), "00Q2"), T0)
        cursors.set_(conn, "salesforce:Contact", Cursor(T0, "0031"), T0)
    with store.begin() as conn:
        assert cursors.get(conn, "salesforce:Lead") == Cursor(T0 + timedelta(seconds=1), "00Q2")
        assert cursors.get(conn, "salesforce:Contact") == Cursor(T0, "0031")
        assert cursors.delete(conn, "salesforce:Contact")
        assert cursors.get(conn, "salesforce:Contact") is None


DETAILS = {
    "reasons": [{"code": "quiet_hours", "detail": "outside America/Chicago 08:00-21:00"}],
    "inputs": {"zones": ["America/Chicago"], "zone_source": "area_code", "prior_sends": 2},
}


def test_decision_log(store: SqlStore) -> None:
    with store.begin() as conn:
        decisions.append(
            conn, Decision(Verdict.BLOCK, ("opted_out", "quiet_hours")), T0, contact=LEAD
        )
        decisions.append(
            conn,
            Decision(Verdict.DEFER, ("quiet_hours",), send_at=T0 + timedelta(hours=9)),
            T0 + timedelta(seconds=1),
            contact=LEAD,
            phone=PHONE,
            play="welcome",
        )
        decisions.append(conn, Decision(Verdict.BLOCK, ("cap",)), T0, contact=CONTACT)
        decisions.append(
            conn,
            Decision(Verdict.DEFER, ("quiet_hours",), send_at=T0 + timedelta(hours=9)),
            T0 + timedelta(seconds=2),
            contact=LEAD,
            details=DETAILS,
        )
    with store.begin() as conn:
        log = decisions.for_contact(conn, LEAD)
        assert [e.decision.verdict for e in log] == [Verdict.DEFER, Verdict.DEFER, Verdict.BLOCK]
        assert log[0].details == DETAILS  # nested JSON round-trips on both dialects
        assert log[1].decision.send_at == T0 + timedelta(hours=9)
        assert log[1].play == "welcome"
        assert log[1].details is None
        assert log[2].decision.reasons == ("opted_out", "quiet_hours")
        # no details is SQL NULL, as in rows logged before migration 0004, not JSON null
        nulls = conn.execute(
            sa.select(sa.func.count()).where(tb.decision_log.c.details.is_(None))
        ).scalar_one()
        assert nulls == 3
        assert decisions.blocked_reasons(conn) == {"opted_out": 1, "quiet_hours": 1, "cap": 1}


def test_sla_timers(store: SqlStore) -> None:
    due = T0 + timedelta(hours=2)
    with store.begin() as conn:
        contacts.upsert(conn, _contact(LEAD), T0)
        first = sla.start(conn, LEAD, SlaKind.FIRST_RESPONSE, started=T0, due=due, source_sid="SM1")
        # A second reply before the rep answered does not restart the clock.
        again = sla.start(conn, LEAD, SlaKind.FIRST_RESPONSE, started=T0, due=due + due.resolution)
        assert again == first
        other = sla.start(conn, CONTACT, SlaKind.FIRST_RESPONSE, started=T0, due=due)
        state = contacts.get(conn, LEAD)
        assert state is not None
        assert state.sla == first.timer
        assert sla.due(conn, due - timedelta(seconds=1)) == []
        assert [e.id for e in sla.due(conn, due)] == [first.id, other.id]
        met = sla.meet(conn, LEAD, SlaKind.FIRST_RESPONSE, T0 + timedelta(hours=1))
        assert met is not None
        assert met.timer.met == T0 + timedelta(hours=1)
        assert not sla.breach(conn, first.id, due)
        assert sla.breach(conn, other.id, due)
        assert not sla.escalate(conn, first.id, due)
        assert [e.id for e in sla.unescalated(conn)] == [other.id]
        assert sla.escalate(conn, other.id, due)
        assert not sla.escalate(conn, other.id, due)
        assert sla.unescalated(conn) == []
        # Closed timers free the slot for a new one.
        fresh = sla.start(conn, LEAD, SlaKind.FIRST_RESPONSE, started=due, due=due + due.resolution)
        assert fresh.id not in (first.id, other.id)
        assert len(sla.for_contact(conn, LEAD)) == 2


def test_retry_ledger_counts_attempts_and_resolves(store: SqlStore) -> None:
    later = T0 + timedelta(minutes=5)
    with store.begin() as conn:
        e1 = failure_ledger.record_failure(
            conn, "crm", "sms:SM1", reason_code="STRING_TOO_LONG", message="Body", now=T0
        )
        assert (e1.attempts, e1.first_failed_at) == (1, T0)
        e2 = failure_ledger.record_failure(
            conn,
            "crm",
            "sms:SM1",
            reason_code="UNABLE_TO_LOCK_ROW",
            message="locked",
            now=later,
            next_attempt_at=later + timedelta(minutes=1),
        )
        assert (e2.id, e2.attempts, e2.reason_code) == (e1.id, 2, "UNABLE_TO_LOCK_ROW")
        assert (e2.first_failed_at, e2.last_failed_at) == (T0, later)
        failure_ledger.record_failure(
            conn, "sms", "k1", reason_code="21211", message="invalid", now=T0
        )
        assert [e.key for e in failure_ledger.list_open(conn)] == ["sms:SM1", "k1"]
        assert [e.key for e in failure_ledger.list_open(conn, "sms")] == ["k1"]
        assert failure_ledger.due(conn, later) == []
        assert [e.key for e in failure_ledger.due(conn, later + timedelta(minutes=1))] == [
            "sms:SM1"
        ]
        assert failure_ledger.resolve(conn, "crm", "sms:SM1", later)
        assert not failure_ledger.resolve(conn, "crm", "sms:SM1", later)
        # A new failure after resolution opens a fresh entry.
        e3 = failure_ledger.record_failure(
            conn, "crm", "sms:SM1", reason_code="X", message="m", now=later
        )
        assert (e3.attempts, e3.id != e1.id) == (1, True)


def test_one_transaction_commits_state_and_outbox_together(store: SqlStore) -> None:
    """A crash before commit leaves neither the state change nor its outbox row."""
    port: Store = store  # SqlStore is the engine's Store port (checked by mypy)

    def crash() -> None:
        with port.begin() as conn:
            consent.append(conn, _consent(ConsentStatus.OPTED_OUT, 0, "SM1"), T0)
            crm_outbox.enqueue(conn, _write(1), T0)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash before commit"):
        crash()
    with store.begin() as conn:
        assert consent.history(conn, PHONE) == []
        assert crm_outbox.get(conn, "sms:SM0001") is None
        assert conn.execute(sa.text("SELECT count(*) FROM crm_outbox")).scalar_one() == 0
