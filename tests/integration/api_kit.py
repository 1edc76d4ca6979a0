"""What the `POST /api/send` tests share: two pulled contacts, the scenario plays, a fixed
noon in New York, and the sidecar's whole app (body limits and error guard included)
around the API's routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.types import ASGIApp

from connector.config import Settings, load_plays, to_policy
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.engine.plan import PlaysPlanner
from connector.ports import Clock, SmsPort
from connector.runtime.api import api_routes
from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness
from connector.store import SqlStore, contacts

ROOT = Path(__file__).resolve().parents[2]
NOON = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # 12:00 in New York
TOKEN = "s3cret-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEAD = CrmRef("Lead", "00Q000000000001")
GONE = CrmRef("Lead", "00Q000000000002")
LEAD_PHONE = "+12125550123"
PLAY = "meeting_confirmation"


class Fixed:
    def now(self) -> datetime:
        return NOON


@dataclass
class Ctx:
    store: SqlStore
    sms: SmsPort | None
    clock: Clock
    worker_id: str
    planner: PlaysPlanner


def seed(store: SqlStore) -> SqlStore:
    zones = TimeZones(("America/New_York",), TzSource.CRM_FIELD)
    with store.begin() as conn:
        contacts.upsert(conn, ContactState(LEAD, LEAD_PHONE, zones), NOON)
        contacts.upsert(
            conn,
            ContactState(GONE, "+12125550124", zones, consent=ConsentStatus.OPTED_OUT),
            NOON,
        )
    return store


def api_app(store: SqlStore, sms: SmsPort | None = None, **settings: Any) -> ASGIApp:
    policy = to_policy(load_plays(ROOT / "tests" / "data" / "plays" / "scenario.yaml"))
    ctx = Ctx(store, sms, Fixed(), "api-test", PlaysPlanner(policy))
    return build_app(Readiness({}), webhooks=api_routes(Settings(**settings), ctx))


def count(store: SqlStore, table: sa.Table) -> int:
    with store.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
