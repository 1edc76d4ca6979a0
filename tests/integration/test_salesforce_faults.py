"""The Salesforce adapter under the sandbox's faults (docs/reliability.md, faults 4, 5, 7,
8, 9, 23): sessions expiring under concurrent workers, 5xx bursts and resets, per-record failures
through the real Writeback engine and store, the daily-limit stop, revoked credentials."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import CrmRef, CrmWrite
from connector.engine.writeback import Writeback
from connector.errors import AuthError, QuotaExhaustedError, RetriableError
from connector.metrics import CRM_API_USAGE, CRM_WRITE_STOPS
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultSpec, RecordErrorSpec, ServerErrors
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox, failure_ledger
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")
TOKEN = "POST /services/oauth2/token"
COMPOSITE = "POST /services/data/v62.0/composite"
FAST = RetryPolicy(attempts=4, max_total_s=30, base_s=0.01, max_wait_s=0.05)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb
        gc.collect()  # caught exceptions' tracebacks may still pin client connections


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    sandbox.state.faults.clear()
    sandbox.state.stats.reset()
    emu.reset()
    emu.seed(generate(40, seed=5))
    return emu


def build(sb: Sandbox, sleeps: list[float] | None = None, **env: str) -> SalesforceCrm:
    waits = sleeps if sleeps is not None else []
    return SalesforceCrm.from_settings(
        sandbox_settings(sb, **env), MAPPING, policy=FAST, sleep=waits.append
    )


def calls(sb: Sandbox, endpoint: str) -> int:
    by_endpoint: dict[str, int] = sb.state.stats.snapshot()["salesforce"]["calls_by_endpoint"]
    return by_endpoint.get(endpoint, 0)


def people(crm: SalesforceCrm) -> list[CrmRef]:
    return [s.ref for b in crm.pull(None) for s in b.contacts]


def activity(target: CrmRef, n: int) -> CrmWrite:
    sid = f"SM{n:032x}"
    return CrmWrite(
        "activity",
        f"sms:{sid}",
        target,
        {
            "message_sid": sid,
            "direction": "inbound",
            "body": f"reply {n}",
            "at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
            "status": "received",
        },
    )


def set_faults(sb: Sandbox, **knobs: object) -> None:
    sb.state.faults.set("salesforce", FaultSpec.model_validate(knobs))


def test_a_session_expiring_under_four_workers_logs_in_again_exactly_once(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    workers = [build(sandbox) for _ in range(4)]
    phone = next(c.phone_e164 for c in generate(40, seed=5).contacts if c.phone_e164)
    assert phone is not None
    expected = workers[0].find_by_phone(phone)  # logs in (the session is shared)
    assert expected
    before = calls(sandbox, TOKEN)
    set_faults(sandbox, session_expire_after=0, latency_ms=80)
    barrier = threading.Barrier(4)
    found: list[list[CrmRef]] = []
    errors: list[BaseException] = []

    def work(crm: SalesforceCrm) -> None:
        barrier.wait()
        try:
            found.append(crm.find_by_phone(phone))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert found == [expected] * 4
    assert sandbox.state.stats.snapshot()["salesforce"]["faults_injected"]["session_expired"] == 1
    assert calls(sandbox, TOKEN) - before == 1


def test_a_session_refused_right_after_login_is_an_auth_error_not_a_loop(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    crm = build(sandbox)
    crm.find_by_phone("+14155550123")
    before = calls(sandbox, TOKEN)
    emulator.auth.lifetime = timedelta(0)  # every session is dead on arrival
    emulator.auth.expire_all()
    with pytest.raises(AuthError, match="just issued"):
        crm.find_by_phone("+14155550123")
    assert calls(sandbox, TOKEN) - before == 1


def test_revoked_credentials_fail_fast_with_an_actionable_message(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    crm = build(sandbox)
    crm.find_by_phone("+14155550123")
    emulator.auth.revoke(revoked=True)
    before = calls(sandbox, TOKEN)
    with pytest.raises(AuthError) as info:
        crm.write([activity(CrmRef("Lead", "00Q000000000001AAA"), 1)])
    assert "invalid_grant" in str(info.value)
    assert "SF_CLIENT_ID" in str(info.value)
    assert sandbox.credentials.sf_password not in str(info.value)
    assert calls(sandbox, TOKEN) - before == 1  # no retry of a refused login


def test_a_5xx_burst_and_connection_resets_are_retried_a_bounded_number_of_times(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    sleeps: list[float] = []
    crm = build(sandbox, sleeps)
    targets = people(crm)
    set_faults(sandbox, server_errors=ServerErrors(count=2, status=503), resets=1)
    results = crm.write([activity(targets[0], 1), activity(targets[1], 2)])
    assert all(r.ok for r in results)
    injected = sandbox.state.stats.snapshot()["salesforce"]["faults_injected"]
    assert injected == {"reset": 1, "server_error": 2}
    assert len(sleeps) == 3  # one backoff per failed attempt
    assert all(0 < s <= FAST.max_wait_s for s in sleeps)
    assert len(emulator.find("Task", "SMS_Message_Id__c", results[0].external_id)) == 1

    sleeps.clear()
    set_faults(sandbox, server_errors=ServerErrors(count=50, status=500))
    before = calls(sandbox, COMPOSITE)
    with pytest.raises(RetriableError):
        crm.write([activity(targets[0], 3)])
    assert calls(sandbox, COMPOSITE) - before == FAST.attempts  # bounded, then re-raised
    assert len(sleeps) == FAST.attempts - 1


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


def enqueue(store: SqlStore, clock: Clock, writes: list[CrmWrite]) -> None:
    with store.begin() as conn:
        for w in writes:
            crm_outbox.enqueue(conn, w, clock.now())


def test_per_record_errors_land_in_the_retry_ledger_and_are_retried_next_cycle(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    crm = build(sandbox)
    targets = people(crm)
    gone = targets[5]
    emulator.writer.delete(emulator.schema[gone.object_type], gone.id)
    ok, locked, refused, orphan = (
        activity(targets[0], 10),
        activity(targets[1], 11),
        activity(targets[2], 12),
        activity(gone, 13),
    )
    set_faults(
        sandbox,
        record_errors={
            locked.external_id: RecordErrorSpec(code="UNABLE_TO_LOCK_ROW", message="row locked"),
            refused.external_id: RecordErrorSpec(code="FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        },
    )
    clock = Clock()
    enqueue(store, clock, [ok, locked, refused, orphan])
    writeback = Writeback(store, crm, clock, "salesforce", "w1")
    report = writeback.drain()
    assert (report.written, report.retrying, report.dead, report.orphaned) == (1, 1, 1, 1)
    with store.begin() as conn:
        ledger = {
            w.external_id: failure_ledger.get_open(conn, "crm", w.external_id)
            for w in (ok, locked, refused, orphan)
        }
    assert ledger[ok.external_id] is None
    lock_entry = ledger[locked.external_id]
    assert lock_entry is not None
    assert lock_entry.reason_code == "UNABLE_TO_LOCK_ROW"
    assert lock_entry.next_attempt_at is not None
    refused_entry = ledger[refused.external_id]
    assert refused_entry is not None
    assert refused_entry.reason_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    orphan_entry = ledger[orphan.external_id]
    assert orphan_entry is not None
    assert orphan_entry.reason_code == "INVALID_CROSS_REFERENCE_KEY"
    assert len(emulator.find("Task", "SMS_Message_Id__c", ok.external_id)) == 1
    assert emulator.find("Task", "SMS_Message_Id__c", locked.external_id) == []

    # the lock clears; the next cycle after the backoff writes it, and only it
    sandbox.state.faults.clear()
    assert writeback.drain().claimed == 0  # still backing off
    clock.t = lock_entry.next_attempt_at + timedelta(seconds=1)
    again = writeback.drain()
    assert (again.claimed, again.written) == (1, 1)
    with store.begin() as conn:
        assert failure_ledger.get_open(conn, "crm", locked.external_id) is None
        assert failure_ledger.get_open(conn, "crm", orphan.external_id) is not None
    assert len(emulator.find("Task", "SMS_Message_Id__c", locked.external_id)) == 1


def test_writeback_stops_at_the_configured_share_of_the_daily_allocation(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    crm = build(sandbox, SMSYNC_API_USAGE_STOP_SHARE="0.8")
    targets = people(crm)
    emulator.limits.set(sandbox.state.clock.now(), daily_max=1000, used=850)
    crm.find_by_phone("+14155550123")  # any response tells the adapter the usage
    assert CRM_API_USAGE.labels("salesforce")._value.get() >= 0.85
    clock = Clock()
    enqueue(store, clock, [activity(targets[0], 20), activity(targets[1], 21)])
    stops = CRM_WRITE_STOPS.labels("salesforce", "quota")._value.get()
    before = calls(sandbox, COMPOSITE)
    report = Writeback(store, crm, clock, "salesforce", "w1").drain()
    assert report.stopped == "quota"
    assert calls(sandbox, COMPOSITE) == before  # stopped before spending a call
    assert CRM_WRITE_STOPS.labels("salesforce", "quota")._value.get() == stops + 1
    with store.begin() as conn:
        assert crm_outbox.counts(conn).get("done", 0) == 0  # state kept, rows released
        assert crm_outbox.counts(conn).get("pending", 0) == 2


def test_a_403_request_limit_exceeded_stops_writing(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    crm = build(sandbox)
    targets = people(crm)
    emulator.limits.set(sandbox.state.clock.now(), daily_max=1000, used=1000)
    fresh = build(sandbox, SMSYNC_API_USAGE_STOP_SHARE="1")  # usage unknown to it
    before = sandbox.state.stats.calls("salesforce")
    with pytest.raises(QuotaExhaustedError, match="TotalRequests"):
        fresh.write([activity(targets[0], 30)])
    assert sandbox.state.stats.calls("salesforce") - before == 1  # refused once, not retried
    assert emulator.find("Task", "SMS_Message_Id__c", activity(targets[0], 30).external_id) == []
