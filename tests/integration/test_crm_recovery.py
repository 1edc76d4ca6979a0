"""Recovery in seconds, not minutes (issue 22), through the real adapters, the real
Writeback engine and store, against the sandbox's faults, on a controllable clock:

- a 60-call 429 storm drains within about a minute of its end (the batch backoff is
  capped at 60 s);
- after a quota stop, writing resumes at the first probe that finds the reported usage
  back under the share (Salesforce: the rolling window freed calls; HubSpot: the day
  rolled over), not after a blind 15 minutes;
- `/readyz`'s CRM check answers within its deadline however slow the CRM is, and fires
  the recovery hook when the CRM is back."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import CrmRef, CrmWrite
from connector.engine.writeback import Writeback
from connector.errors import AuthError, QuotaExhaustedError
from connector.ports import CrmPort
from connector.runtime.readiness import Readiness, salesforce_check
from connector.sandbox.faults import FaultSpec, Storm
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox
from tests.integration import hubspot_kit
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")
TICK = timedelta(seconds=15)  # SMSYNC_WRITEBACK_INTERVAL_S


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot")) as sb:
        yield sb
        gc.collect()


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    sandbox.state.faults.clear()
    sandbox.state.clock.unfreeze()
    emu.reset()
    emu.seed(generate(20, seed=5))
    return emu


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        """The adapter's in-call retry waits pass on this clock, not in real time."""
        self.t += timedelta(seconds=seconds)


def activity(target: CrmRef, n: int) -> CrmWrite:
    sid = f"SM{n:032x}"
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    fields = {"message_sid": sid, "direction": "inbound", "body": f"reply {n}", "at": at}
    return CrmWrite("activity", f"sms:{sid}", target, {**fields, "status": "received"})


def queue(store: SqlStore, clock: Clock, writes: list[CrmWrite]) -> None:
    with store.begin() as conn:
        for w in writes:
            assert crm_outbox.enqueue(conn, w, clock.now())


def open_rows(store: SqlStore) -> int:
    with store.begin() as conn:
        counts = crm_outbox.counts(conn)
    return sum(n for state, n in counts.items() if state != "done")


def tick(writeback: Writeback) -> None:
    """One run of the writeback job's body: batches until none is claimed, a stop, or a
    batch deferred whole."""
    while True:
        report = writeback.drain(max_rounds=1)
        if report.claimed == 0 or report.stopped or report.retrying == report.claimed:
            return


def salesforce(sandbox: Sandbox, clock: Clock, **env: str) -> tuple[SalesforceCrm, list[CrmRef]]:
    crm = SalesforceCrm.from_settings(sandbox_settings(sandbox, **env), MAPPING, sleep=clock.sleep)
    return crm, [s.ref for b in crm.pull(None) for s in b.contacts]


def test_a_429_storm_drains_within_a_minute_and_a_tick_of_its_end(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    clock = Clock()
    crm, people = salesforce(sandbox, clock)  # logged in before the storm
    writes = [activity(people[n % len(people)], n) for n in range(300)]
    queue(store, clock, writes)
    sandbox.state.faults.set("salesforce", FaultSpec(throttle=Storm(count=60)))
    writeback = Writeback(store, crm, clock, "salesforce", "w1")
    started, ended = clock.now(), None
    while open_rows(store) and clock.now() - started < timedelta(hours=6):
        tick(writeback)
        storm = sandbox.state.faults.get("salesforce").throttle
        if ended is None and storm is not None and storm.count == 0:
            ended = clock.now()
        clock.t += TICK
    assert ended is not None, "the storm never ended"
    assert open_rows(store) == 0
    drained_after = clock.now() - ended
    # the last deferral waits at most 60 s, then the next tick writes everything
    assert drained_after <= timedelta(seconds=60) + 2 * TICK, drained_after
    assert all(len(emulator.find("Task", "SMS_Message_Id__c", w.external_id)) == 1 for w in writes)


def test_salesforce_writes_resume_at_the_first_probe_that_sees_the_usage_fall(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    clock = Clock()
    crm, people = salesforce(sandbox, clock, SMSYNC_API_USAGE_STOP_SHARE="0.8")
    emulator.limits.set(sandbox.state.clock.now(), daily_max=1000, used=850)
    with pytest.raises(QuotaExhaustedError):
        crm.probe()  # the usage the org reports now is past the share
    writes = [activity(people[0], 1), activity(people[1], 2)]
    queue(store, clock, writes)
    writeback = Writeback(store, crm, clock, "salesforce", "w1")
    assert writeback.drain().stopped == "quota"
    clock.t += timedelta(seconds=60)
    assert writeback.drain().stopped == "quota"  # probed: still 85 % used
    emulator.limits.set(sandbox.state.clock.now(), daily_max=1000, used=100)  # calls freed
    clock.t += timedelta(seconds=60)
    report = writeback.drain()
    assert (report.stopped, report.written) == (None, 2)


def spend_the_day(crm: CrmPort) -> int:
    """Probes until the daily budget share is used up; how many it took."""
    for n in range(1, 100):
        try:
            crm.probe()
        except QuotaExhaustedError:
            return n
    raise AssertionError("the daily budget never ran out")


def test_hubspot_writes_resume_once_the_day_rolls_over(sandbox: Sandbox, store: SqlStore) -> None:
    """Before the probe, a HubSpot daily stop never lifted: the limiter refused every call
    locally, so no answer ever told it the day had rolled over."""
    account = hubspot_kit.fresh_account(sandbox, contacts=3)
    account.emulator.configure_limits(daily=20)
    crm = account.adapter()
    assert spend_the_day(crm) < 20  # each probe reads the day's remaining calls
    clock = Clock()
    writes = [hubspot_kit.activity(1), hubspot_kit.activity(2)]
    queue(store, clock, writes)
    writeback = Writeback(store, crm, clock, "hubspot", "w1")
    assert writeback.drain().stopped == "quota"
    sandbox.state.clock.advance(86_400)  # a new day at HubSpot
    clock.t += timedelta(seconds=60)
    report = writeback.drain()
    assert (report.stopped, report.written) == (None, 2)
    assert account.count("communications", writes[0].external_id) == 1
    account.emulator.revoke_token()  # and a revoked token is an auth stop, probed alike
    with pytest.raises(AuthError):
        crm.probe()
    account.emulator.revoke_token(revoked=False)
    crm.probe()


def test_the_crm_readiness_check_answers_within_its_deadline_and_reports_the_return(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    back: list[str] = []
    settings = sandbox_settings(sandbox)
    readiness = Readiness(
        {"crm": salesforce_check(settings)}, cache_s=0, deadline_s=1.0, on_recover=back.append
    )
    assert [r.ok for r in readiness.run()] == [True]
    emulator.auth.expire_all()  # the next check is refused, then logs in again: two calls
    sandbox.state.faults.set("salesforce", FaultSpec(latency_ms=4000))  # each within TIMEOUT
    started = time.monotonic()
    (slow,) = readiness.run()
    took = time.monotonic() - started
    assert not slow.ok
    assert "no answer within 1 s" in slow.detail
    assert took < 2.0  # not the 8 s of the refused read and the login
    sandbox.state.faults.clear("salesforce")
    deadline = time.monotonic() + 30
    while not readiness.run()[0].ok:  # the slow check still finishes in the background
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert back == ["crm"]  # failing, then ok: the jobs waiting on the CRM are woken once
    assert readiness.run()[0].ok
    assert back == ["crm"]
