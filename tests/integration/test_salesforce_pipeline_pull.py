"""The Salesforce adapter pulls the pipeline from the sandbox over HTTP: every seeded
Opportunity with its contact roles and OpportunityHistory stages, into the store; a resume
from the stored cursor brings only what changed since (a stage move, with its new history
row); OpportunityFieldHistory works as the history source too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import requests
import sqlalchemy as sa

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.ports import Cursor
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.server import Sandbox
from connector.store import SqlStore
from connector.store import pipeline as pipeline_store
from connector.store import tables as tb
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    requests.post(f"{sandbox.urls['admin']}/__sandbox/reset", json={}, timeout=10)
    seeded = requests.post(
        f"{sandbox.urls['admin']}/__sandbox/seed",
        json={"contacts": 80, "seed": 4, "deal_share": 0.6},
        timeout=30,
    )
    assert seeded.status_code == 200, seeded.text
    return cast("SalesforceEmulator", sandbox.emulators["salesforce"])


def _adapter(sb: Sandbox, history: str = "OpportunityHistory") -> SalesforceCrm:
    settings = sandbox_settings(sb, SF_QUERY_BATCH_SIZE="200")
    assert MAPPING.pipeline is not None
    mapping = MAPPING.model_copy(
        update={"pipeline": MAPPING.pipeline.model_copy(update={"stage_history": history})}
    )
    return SalesforceCrm.from_settings(settings, mapping)


def _pull(store: SqlStore, crm: SalesforceCrm, since: Cursor | None) -> tuple[int, Cursor | None]:
    n, cursor = 0, since
    for batch in crm.pull_pipeline(since):
        with store.begin() as conn:
            n += pipeline_store.apply(conn, batch, batch.opportunities[0].modstamp)
        cursor = batch.cursor
    return n, cursor


def test_pull_stores_opportunities_roles_and_history(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    emu = emulator
    opps = emu.store.rows("Opportunity")
    roles = emu.store.rows("OpportunityContactRole")
    history = emu.store.rows("OpportunityHistory")
    assert len(opps) >= 20  # the seed made a pipeline to pull
    crm = _adapter(sandbox)
    try:
        n, cursor = _pull(store, crm, None)
        assert n == len(opps)
        with store.begin() as conn:
            stored = {r.crm_id: r for r in conn.execute(sa.select(tb.opportunities))}
            links = conn.execute(sa.select(sa.func.count()).select_from(tb.opportunity_contacts))
            stages = conn.execute(sa.select(tb.opportunity_stages)).all()
        assert set(stored) == set(opps)
        for oid, row in opps.items():
            assert stored[oid].stage == row["StageName"]
            assert bool(stored[oid].is_won) == bool(row["IsWon"])
        assert links.scalar_one() == len(roles)
        assert {(s.opportunity_id, s.stage) for s in stages} == {
            (h["OpportunityId"], h["StageName"]) for h in history.values()
        }
        # nothing changed: a resume brings nothing
        assert _pull(store, crm, cursor)[0] == 0
        # a rep moves one deal on: only it comes back, with its new stage in the history
        moved = next(oid for oid, row in opps.items() if not row["IsClosed"])
        emu.writer.update(emu.schema["Opportunity"], moved, {"StageName": "Closed Won"})
        again, _ = _pull(store, crm, cursor)
        assert again == 1
        with store.begin() as conn:
            now = conn.execute(
                sa.select(tb.opportunities).where(tb.opportunities.c.crm_id == moved)
            ).one()
            entered = conn.execute(
                sa.select(tb.opportunity_stages.c.stage).where(
                    tb.opportunity_stages.c.opportunity_id == moved
                )
            ).scalars()
            assert (now.stage, now.is_won, now.is_closed) == ("Closed Won", True, True)
            assert "Closed Won" in set(entered)
    finally:
        crm.close()


def test_field_history_is_a_stage_source_too(
    sandbox: Sandbox, emulator: SalesforceEmulator, store: SqlStore
) -> None:
    changes = {
        (h["OpportunityId"], h["NewValue"])
        for h in emulator.store.rows("OpportunityFieldHistory").values()
        if h["Field"] == "StageName"
    }
    assert changes  # the seed moved deals through stages
    crm = _adapter(sandbox, "OpportunityFieldHistory")
    try:
        _pull(store, crm, None)
    finally:
        crm.close()
    with store.begin() as conn:
        stages = {
            (s.opportunity_id, s.stage) for s in conn.execute(sa.select(tb.opportunity_stages))
        }
    assert stages == changes


def test_no_pipeline_section_pulls_nothing(sandbox: Sandbox, emulator: SalesforceEmulator) -> None:
    settings = sandbox_settings(sandbox)
    crm = SalesforceCrm.from_settings(settings, MAPPING.model_copy(update={"pipeline": None}))
    try:
        assert list(crm.pull_pipeline(None)) == []
    finally:
        crm.close()
    assert emulator.store.rows("Opportunity")
