"""The Salesforce pull through Bulk API 2.0 (issue #21 part 2), against the sandbox over
HTTPS: the same records, batches and cursors as the REST pages on the same data; a job
that fails or a results page that errors is retried with no row lost and none twice; and
the API calls each path spends on a large read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa

from connector.config import load_mapping, load_plays, to_policy
from connector.crm.salesforce.client import SalesforceCrm
from connector.engine import pull as engine_pull
from connector.engine.context import EngineContext
from connector.engine.plan import PlaysPlanner
from connector.ports import Cursor, PullBatch
from connector.runtime.wiring import build
from connector.sandbox.faults import FaultSpec
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.salesforce.store import truncate_ms
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import tables as tb
from tests.integration.test_salesforce_pull import add_leads
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    sandbox.state.faults.clear()
    emu.reset()
    return emu


def adapter(
    sb: Sandbox, threshold: int, *, max_records: int = 10_000, lookback_s: int = 300
) -> SalesforceCrm:
    settings = sandbox_settings(
        sb,
        SF_QUERY_BATCH_SIZE="2000",
        SMSYNC_SF_BULK_THRESHOLD=str(threshold),
        SMSYNC_PULL_LOOKBACK_S=str(lookback_s),
    )
    crm = SalesforceCrm.from_settings(settings, MAPPING)
    crm.puller.bulk.max_records = max_records
    crm.puller.bulk.sleep = lambda _s: None
    return crm


def pull(sb: Sandbox, crm: SalesforceCrm, since: Cursor | None = None) -> list[PullBatch]:
    return list(crm.pull(since))


def calls(sb: Sandbox) -> int:
    return sb.state.stats.calls("salesforce")


def test_bulk_reads_the_same_records_batches_and_cursor_as_rest(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    emulator.seed(generate(600, seed=11))  # leads and contacts, dates, consent, owners
    quirky = emulator.writer.create(  # CSV's quoting: quotes, commas, a newline, accents
        emulator.schema["Lead"],
        {
            "FirstName": 'Zoë "Z", Jr.',
            "LastName": "O'Brien\nSecond line",
            "Company": "Acme, Inc.",
            "MobilePhone": "(415) 555-0199",
            "SMS_Consent_Status__c": "Opted_In",
        },
        stamp=truncate_ms(sandbox.state.clock.now() - timedelta(days=2)),  # before the seed
    )
    rest = pull(sandbox, adapter(sandbox, 0))
    bulk = pull(sandbox, adapter(sandbox, 100, max_records=250))
    assert sum(len(b.contacts) for b in rest) >= 600
    assert bulk == rest  # every ContactState (segments, zones, consent...) and cursor
    [odd] = [c for b in bulk for c in b.contacts if c.ref.id == quirky["Id"]]
    assert odd.segments["first_name"] == 'Zoë "Z", Jr.'

    # a later change: both paths resume from the same cursor and read the same one row
    cursor = rest[-1].cursor
    assert cursor is not None
    sandbox.state.clock.advance(5)
    lead_id = next(iter(emulator.store.rows("Lead")))
    emulator.writer.update(emulator.schema["Lead"], lead_id, {"LastName": "Moved"})
    # a new process (nothing remembered) re-reads the lookback window by either path
    again_rest = pull(sandbox, adapter(sandbox, 0), cursor)
    again_bulk = pull(sandbox, adapter(sandbox, 100, max_records=250), cursor)
    assert lead_id in {s.ref.id for b in again_rest for s in b.contacts}
    assert len({s.ref.id for b in again_rest for s in b.contacts}) > 100  # Bulk was taken
    assert again_bulk == again_rest
    # the same process remembers what it emitted: only the change comes back
    last = adapter(sandbox, 0, lookback_s=0)
    assert [s.ref.id for b in pull(sandbox, last, cursor) for s in b.contacts] == [lead_id]


def test_a_failed_job_and_an_erroring_results_page_lose_nothing_and_repeat_nothing(
    sandbox: Sandbox, emulator: SalesforceEmulator
) -> None:
    stamp = sandbox.state.clock.now() - timedelta(minutes=2)
    ids = add_leads(emulator, 3000, stamp)
    sandbox.state.faults.set(
        "salesforce",
        FaultSpec.model_validate(
            {
                "bulk": {
                    "fail_jobs": {"count": 1},
                    "page_errors": [{"page": 0, "count": 1}, {"page": 2, "count": 2}],
                }
            }
        ),
    )
    before = sandbox.state.stats.snapshot()["salesforce"]["faults_injected"]
    batches = pull(sandbox, adapter(sandbox, 1000, max_records=700))
    faults = sandbox.state.stats.snapshot()["salesforce"]["faults_injected"]
    assert faults.get("bulk_job_failed", 0) - before.get("bulk_job_failed", 0) == 1
    assert faults.get("bulk_page_error", 0) - before.get("bulk_page_error", 0) == 3
    got = [s.ref.id for b in batches for s in b.contacts]
    assert Counter(got) == Counter(ids)  # every row, once
    assert batches[-1].cursor == Cursor(truncate_ms(stamp), max(ids))


def endpoints(sb: Sandbox) -> Counter[str]:
    """API calls by endpoint (the OAuth token calls are not API calls)."""
    by: dict[str, int] = sb.state.stats.snapshot()["salesforce"]["calls_by_endpoint"]
    return Counter({k: n for k, n in by.items() if "/services/data/" in k})


@pytest.mark.parametrize("changed", [20_000])
def test_bulk_spends_a_fraction_of_the_rest_calls_on_a_large_read(
    sandbox: Sandbox, emulator: SalesforceEmulator, changed: int
) -> None:
    stamp = sandbox.state.clock.now() - timedelta(minutes=30)
    add_leads(emulator, changed, stamp)
    adapter(sandbox, 0).probe()  # a session for this org (a reset one answers 401 once)
    start = endpoints(sandbox)
    rest = pull(sandbox, adapter(sandbox, 0))
    rest_calls = endpoints(sandbox) - start
    start = endpoints(sandbox)
    bulk = pull(sandbox, adapter(sandbox, 10_000))
    bulk_calls = endpoints(sandbox) - start
    assert bulk == rest
    print(f"{changed} changed: REST {dict(rest_calls)}; Bulk {dict(bulk_calls)}")
    pages = -(-changed // 2000)
    # REST: a page per 2,000 Leads and one empty Contact query
    assert rest_calls.total() == pages + 1
    # Bulk: a COUNT() per object, the Contact REST query, a Lead describe, a job create, two
    # polls (InProgress, JobComplete) and one results call per 10,000 rows
    assert bulk_calls.total() == 2 + 1 + 1 + 1 + 2 + -(-changed // 10_000)


def _engine(sb: Sandbox, db: str, threshold: int) -> EngineContext:
    upgrade(db)
    settings = sandbox_settings(sb, SMSYNC_DATABASE_URL=db, SMSYNC_SF_BULK_THRESHOLD=str(threshold))
    planner = PlaysPlanner(to_policy(load_plays(ROOT / "mappings" / "plays.yaml", MAPPING)))
    built = build(settings, clock=sb.state.clock, planner=planner, mapping=MAPPING)
    return built.engine


def _planned(ctx: EngineContext) -> list[tuple[str | None, str | None]]:
    t = tb.sms_outbox
    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.c.play, t.c.contact_id).order_by(t.c.contact_id, t.c.play))
        return [(r.play, r.contact_id) for r in rows]


def test_the_engine_raises_the_same_signals_from_either_path(
    sandbox: Sandbox, emulator: SalesforceEmulator, tmp_path: Path
) -> None:
    emulator.seed(generate(300, seed=12))
    by_rest = _engine(sandbox, f"sqlite:///{tmp_path / 'rest.db'}", 0)
    by_bulk = _engine(sandbox, f"sqlite:///{tmp_path / 'bulk.db'}", 1)
    try:
        assert (
            engine_pull.run(by_rest).contacts == engine_pull.run(by_bulk).contacts > 0
        )  # the backlog
        sandbox.state.clock.advance(5)
        lead = emulator.schema["Lead"]
        for lead_id in list(emulator.store.rows("Lead"))[:40]:  # leads become MQLs
            emulator.writer.update(lead, lead_id, {"Status": "MQL"})
        sandbox.state.clock.advance(5)
        jobs = endpoints(sandbox)["POST /services/data/v62.0/jobs/query"]
        rest, bulk = engine_pull.run(by_rest), engine_pull.run(by_bulk)
        assert endpoints(sandbox)["POST /services/data/v62.0/jobs/query"] > jobs  # Bulk ran
        assert (bulk.contacts, bulk.signals, bulk.sends_planned) == (
            rest.contacts,
            rest.signals,
            rest.sends_planned,
        )
        assert rest.signals > 0
        assert _planned(by_bulk) == _planned(by_rest)
    finally:
        by_rest.store.close()
        by_bulk.store.close()
