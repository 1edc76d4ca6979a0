"""Pull correctness against the sandbox (docs/reliability.md, faults 10, 12 and 24): more
rows on one SystemModstamp than a page holds, a resume mid-way, a late commit inside the lookback,
changes and deletes, each emitted exactly once per change; bad cursors never crash."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import ContactState
from connector.ports import Cursor, PullBatch
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.salesforce.store import truncate_ms
from connector.sandbox.server import Sandbox
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")
LEADS = 5000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb


def adapter(sb: Sandbox, *, lookback_s: int = 300) -> SalesforceCrm:
    settings = sandbox_settings(
        sb, SF_QUERY_BATCH_SIZE="2000", SMSYNC_PULL_LOOKBACK_S=str(lookback_s)
    )
    return SalesforceCrm.from_settings(settings, MAPPING)


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    sandbox.state.faults.clear()
    emu.reset()
    return emu


def add_leads(emu: SalesforceEmulator, n: int, stamp: datetime, prefix: str = "L") -> list[str]:
    """Rows committed with a given SystemModstamp (as a slow transaction would)."""
    lead = emu.schema["Lead"]
    ids = []
    for i in range(n):
        row = emu.writer.create(
            lead,
            {
                "LastName": f"{prefix}{i}",
                "Company": "Acme",
                "MobilePhone": f"(415) 555-{i % 10000:04d}",
                "SMS_Consent_Status__c": "Opted_In",
            },
            stamp=truncate_ms(stamp),
        )
        ids.append(row["Id"])
    return ids


def drain(batches: Iterator[PullBatch]) -> tuple[list[ContactState], list[PullBatch]]:
    got = list(batches)
    return [s for b in got for s in b.contacts], got


def last_cursor(batches: list[PullBatch], since: Cursor | None = None) -> Cursor | None:
    cursor = since
    for b in batches:
        cursor = b.cursor or cursor
    return cursor


def test_rows_sharing_one_modstamp_and_a_late_commit_are_each_emitted_once(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    now = sandbox.state.clock.now()
    stamp = now - timedelta(minutes=2)
    ids = add_leads(emulator, LEADS, stamp)
    crm = adapter(sandbox)

    states, batches = drain(crm.pull(None))
    assert Counter(s.ref.id for s in states) == Counter(ids)  # every row, once
    assert [len(b.contacts) for b in batches] == [2000, 2000, 1000]  # page by page
    assert all(s.phone and s.phone.startswith("+1415555") for s in states)
    cursor = last_cursor(batches)
    assert cursor == Cursor(truncate_ms(stamp), max(ids))

    # a restart after the first page: a new process resumes from that page's cursor
    first = batches[0].cursor
    assert first is not None
    resumed, _ = drain(adapter(sandbox, lookback_s=0).pull(first))
    emitted_first = {s.ref.id for s in batches[0].contacts}
    assert {s.ref.id for s in resumed} == set(ids) - emitted_first
    assert len(resumed) == LEADS - 2000

    # a transaction that started earlier commits now, with an older modstamp
    late = add_leads(emulator, 1, stamp - timedelta(seconds=60), prefix="Late")
    again, batches2 = drain(crm.pull(cursor))
    assert [s.ref.id for s in again] == late
    assert last_cursor(batches2, cursor) == cursor  # the cursor never goes back

    # a real change moves the modstamp: emitted once, then nothing
    sandbox.state.clock.advance(5)
    changed = ids[1234]
    emulator.writer.update(emulator.schema["Lead"], changed, {"SMS_Journey_State__c": "Engaged"})
    after, batches3 = drain(crm.pull(cursor))
    assert [(s.ref.id, s.journey_state) for s in after] == [(changed, "engaged")]
    cursor3 = last_cursor(batches3, cursor)
    assert cursor3 is not None
    assert cursor3.modstamp > cursor.modstamp
    assert drain(crm.pull(cursor3))[0] == []


def test_deletes_come_through_deleted_and_once(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    ids = add_leads(emulator, 3, sandbox.state.clock.now() - timedelta(minutes=1))
    crm = adapter(sandbox)
    _, batches = drain(crm.pull(None))
    cursor = last_cursor(batches)
    sandbox.state.clock.advance(2)
    emulator.writer.delete(emulator.schema["Lead"], ids[0])
    states, _ = drain(crm.pull(cursor))
    gone = [s for s in states if s.deleted]
    assert [(s.ref.object_type, s.ref.id) for s in gone] == [("Lead", ids[0])]
    assert all(s.ref.id != ids[0] for s in states if not s.deleted)
    assert [s for s in drain(crm.pull(cursor))[0] if s.deleted] == []


def test_a_future_cursor_is_clamped_to_the_server_clock_with_a_warning(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    recent = add_leads(emulator, 2, sandbox.state.clock.now() - timedelta(seconds=30))
    crm = adapter(sandbox)
    future = Cursor(datetime.now(UTC) + timedelta(days=3), "00Q000000000001AAA")
    with capture_logs() as logs:
        states, batches = drain(crm.pull(future))
    assert any(e["event"] == "salesforce.cursor_in_future" for e in logs)
    assert {s.ref.id for s in states} == set(recent)  # what the lookback covers
    cursor = last_cursor(batches)
    assert cursor is not None
    assert cursor.modstamp < future.modstamp


@pytest.mark.parametrize(
    "bad",
    [
        Cursor(cast("datetime", "2026-13-45 not a time"), "00Q000000000001AAA"),
        Cursor(datetime(2026, 1, 1), "x' OR Id != '"),  # noqa: DTZ001 - a naive stamp, on purpose
    ],
)
def test_a_malformed_cursor_never_crashes(
    sandbox: Sandbox, emulator: SalesforceEmulator, bad: Cursor
) -> None:
    ids = add_leads(emulator, 3, sandbox.state.clock.now() - timedelta(minutes=1))
    with capture_logs() as logs:
        states, _ = drain(adapter(sandbox).pull(bad))
    assert any(e["event"] == "salesforce.cursor_malformed" for e in logs)
    assert {s.ref.id for s in states} == set(ids)
