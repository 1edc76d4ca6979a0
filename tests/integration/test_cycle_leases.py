"""`smsync sync --once` claims under the lease settings, not the defaults: the inbox (and
SMS outbox) under SMSYNC_CLAIM_LEASE_S, the CRM outbox under SMSYNC_WRITEBACK_LEASE_S.

The cycle runs over the components `wiring.build` makes for the sync command, against the
sandbox; the CRM adapter is wrapped only to read, while a claimed row is being worked on,
how long its lease runs (the clock is frozen, so the lease is exact)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.engine.cycle import run_cycle
from connector.ports import CrmPort, Cursor, Owner, PullBatch
from connector.runtime.wiring import build
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox, inbox
from connector.store import tables as tb
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
CLAIM_LEASE_S, WRITEBACK_LEASE_S = 420.0, 600.0  # neither is the 30 s default


class FrozenClock:
    def now(self) -> datetime:
        return NOW


class LeaseReader:
    """The CRM port, noting the leases of the claimed rows whenever the engine calls it."""

    def __init__(self, crm: CrmPort, store: SqlStore) -> None:
        self.crm = crm
        self.store = store
        self.seen: dict[str, set[float]] = {"inbox": set(), "crm_outbox": set()}

    def _note(self, name: str, table: sa.Table) -> None:
        with self.store.begin() as conn:
            rows = conn.execute(
                sa.select(table.c.lease_until).where(table.c.claimed_by.is_not(None))
            ).all()
        self.seen[name] |= {(r.lease_until - NOW).total_seconds() for r in rows}

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        return self.crm.pull(since)

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        self._note("inbox", tb.inbox)  # ingest resolves an unknown sender here
        return self.crm.find_by_phone(phone_e164)

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        self._note("crm_outbox", tb.crm_outbox)
        return self.crm.write(writes)

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        return self.crm.completed_tasks(external_ids)

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return self.crm.owners(ids)

    def probe(self) -> None:
        self.crm.probe()


def test_sync_once_claims_under_every_lease_setting(tmp_path: Path) -> None:
    with Sandbox(vendors=("salesforce", "twilio"), seed_contacts=5) as sb:
        db = f"sqlite:///{tmp_path / 'smsync.db'}"
        upgrade(db)
        settings = sandbox_settings(
            sb,
            SMSYNC_DATABASE_URL=db,
            SMSYNC_CLAIM_LEASE_S=str(CLAIM_LEASE_S),
            SMSYNC_WRITEBACK_LEASE_S=str(WRITEBACK_LEASE_S),
        )
        parts = build(settings, clock=FrozenClock(), planner=None)
        try:
            someone = CrmRef("Contact", str(next(iter(_contacts(sb)))))
            with parts.store.begin() as conn:
                write = CrmWrite("activity", "sms:SMlease", someone, {"body": "hi", "at": NOW})
                assert crm_outbox.enqueue(conn, write, NOW)
                payload = {
                    "source": "poll",
                    "sid": "SMinbound",
                    "from": "+12125550199",
                    "to": settings.twilio_from,
                    "body": "hello",
                    "at": NOW.isoformat(),
                    "opt_out_type": None,
                    "num_segments": 1,
                }
                assert inbox.insert_if_new(conn, "SMinbound", "inbound", payload, NOW)
            reader = LeaseReader(parts.crm, parts.store)
            run_cycle(replace(parts.engine, crm=reader, reconcile=None))
        finally:
            parts.close()
    assert reader.seen == {"inbox": {CLAIM_LEASE_S}, "crm_outbox": {WRITEBACK_LEASE_S}}


def _contacts(sb: Sandbox) -> list[str]:
    emulator = cast("SalesforceEmulator", sb.emulators["salesforce"])
    return [str(row["Id"]) for row in emulator.store.rows("Contact").values()]
