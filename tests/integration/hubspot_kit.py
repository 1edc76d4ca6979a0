"""Shared by the HubSpot adapter tests: a sandbox account per test with the clock pinned,
and the adapter built on that clock, so waiting out a rate-limit window costs no real
time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import MappingConfig, Settings, load_mapping
from connector.crm.hubspot.client import HubSpotCrm
from connector.crm.hubspot.limiter import Tier
from connector.domain.model import CrmRef, CrmWrite
from connector.ports import IdMap
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultSpec
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
PINNED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class MemoryIdMap:
    """An in-process `IdMap`, for `local_map` tests that need no store (the product always
    passes the store's `StoreIdMap`)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def get_many(self, external_ids: Sequence[str]) -> dict[str, str]:
        return {e: self.ids[e] for e in external_ids if e in self.ids}

    def put_many(self, pairs: dict[str, str]) -> None:
        self.ids.update(pairs)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One HubSpot-only sandbox per test module (import it and list it in __all__)."""
    with Sandbox(vendors=("hubspot",)) as s:
        yield s


def settings_for(sb: Sandbox) -> Settings:
    return sandbox_settings(sb, SMSYNC_CRM="hubspot")


def mapping(mode: str = "unique_property") -> MappingConfig:
    base = load_mapping(ROOT / "mappings" / "hubspot.yaml")
    return base.model_copy(update={"idempotency": mode})


@dataclass
class Account:
    sb: Sandbox
    emulator: HubSpotEmulator

    def adapter(
        self,
        mode: str = "unique_property",
        *,
        id_map: IdMap | None = None,
        tier: Tier | None = None,
        attempts: int = 6,
        lookback_s: float = 30.0,
    ) -> HubSpotCrm:
        clock = self.sb.state.clock
        if id_map is None and mode == "local_map":
            id_map = MemoryIdMap()
        return HubSpotCrm.from_settings(
            settings_for(self.sb),
            mapping(mode),
            id_map=id_map,
            tier=tier,
            clock=lambda: clock.now().timestamp(),
            sleep=clock.advance,
            policy=RetryPolicy(attempts=attempts, max_total_s=600.0, base_s=0.5),
            lookback_s=lookback_s,
        )

    def faults(self, **changes: Any) -> None:
        self.sb.state.faults.set("hubspot", FaultSpec(**changes))

    def count(self, obj: str, external_id: str) -> int:
        return len(self.emulator.find(obj, "smsync_external_id", external_id))

    def stats(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.sb.state.stats.snapshot()["hubspot"]
        return snapshot


def fresh_account(sb: Sandbox, contacts: int = 40) -> Account:
    emulator = sb.emulators["hubspot"]
    assert isinstance(emulator, HubSpotEmulator)
    emulator.reset()
    sb.state.faults.clear()
    sb.state.stats.reset()
    sb.state.clock.set(PINNED, freeze=True)
    if contacts:
        emulator.seed(generate(contacts, seed=5))
    return Account(sb, emulator)


def contact(n: int) -> CrmRef:
    return CrmRef("contacts", str(100_001 + n))


def activity(n: int, *, target: int = 0, body: str = "Thursday works") -> CrmWrite:
    sid = f"SM{n:032x}"
    return CrmWrite(
        "activity",
        f"sms:{sid}",
        contact(target),
        {
            "message_sid": sid,
            "direction": "inbound",
            "body": body,
            "at": PINNED,
            "status": "received",
            "phone": "+14155550123",
        },
        owner_id="1000001",
    )


def task(n: int, *, target: int = 0) -> CrmWrite:
    sid = f"SM{n:032x}"
    return CrmWrite(
        "task",
        f"task:{sid}:follow_up",
        contact(target),
        {
            "kind": "follow_up",
            "subject": "SMS reply",
            "body": "Call back",
            "priority": "high",
            "status": "open",
        },
        owner_id="1000001",
        due=PINNED + timedelta(hours=2),
    )


def field_update(n: int, *, target: int = 0, journey: str = "engaged") -> CrmWrite:
    return CrmWrite(
        "field_update",
        f"field:{n}",
        contact(target),
        {"journey_state": journey, "disposition": "interested"},
    )
