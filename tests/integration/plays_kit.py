"""A small world for play scenarios on either CRM: the sandbox seeded with 40 people,
a fresh SQLite store, the real engine with a given plays file, and the people who edit
CRM records through the vendor's own API (`World.edit`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from connector.config import Settings, load_mapping, load_plays, to_policy
from connector.domain.governance import number_facts
from connector.domain.model import ConsentStatus, ContactState, CrmRef
from connector.domain.zones import state_code, state_zones
from connector.engine import pull
from connector.engine.context import EngineContext
from connector.engine.plan import PlaysPlanner
from connector.runtime.webhooks import build_webhook_app
from connector.runtime.wiring import build
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import contacts, sms_outbox
from connector.store import tables as tb
from connector.store.records import SmsOutboxRow
from tests.contract.adapters import build_case
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings
from tests.serve_kit import Served

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    vendor: str
    sandbox: Sandbox
    ctx: EngineContext
    db: str
    case: Any
    used: set[str] = field(default_factory=set)

    def at(self, when: datetime) -> None:
        """Move the sandbox clock (which is also the engine's) to `when`."""
        self.sandbox.state.clock.set(when)
        self.case._sf_session = None  # an admin's UI session would have expired too

    def edit(self, state: ContactState, canonical: str, value: str) -> None:
        mapping = self.ctx.mapping
        crm_field = getattr(mapping.field_map(state.ref.object_type), canonical)
        crm_value = mapping.to_crm(canonical, value) if canonical != "time_zone" else value
        self.case.change_field(state.ref.object_type, state.ref.id, crm_field, crm_value)

    def pull(self) -> None:
        self.sandbox.state.clock.advance(1)
        pull.run(self.ctx)

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return self.sandbox.emulators["twilio"].find("Messages", "to", phone)

    def rows(self, ref: str) -> list[SmsOutboxRow]:
        t = tb.sms_outbox
        with self.ctx.store.begin() as conn:
            ids = conn.execute(
                sa.select(t.c.id).where(t.c.contact_id == ref).order_by(t.c.id)
            ).scalars()
            return [r for i in ids if (r := sms_outbox.get(conn, i)) is not None]

    def person(self) -> ContactState:
        """A textable person the plays can reach, in New York time, not yet at `sql`."""
        t = tb.contact_state
        with self.ctx.store.begin() as conn:
            refs = conn.execute(sa.select(t.c.crm_object_type, t.c.crm_id).order_by(t.c.id))
            people = [contacts.get(conn, _ref(o, i)) for o, i in refs]
        for state in people:
            if (
                state is not None
                and state.phone
                and state.ref.object_type in ("Contact", "contacts")
                and state.consent is not ConsentStatus.OPTED_OUT
                and state.lifecycle_stage != "sql"
                and state.journey_state != "meeting_booked"
                and number_facts(state.phone).valid
                and not number_facts(state.phone).landline
                and not self._used(state.phone)
            ):
                self.used.add(state.phone)
                return state
        raise AssertionError("no textable person in the seed")

    def person_only_in_new_york(self) -> ContactState:
        """A textable person whom every zone the chokepoint may place them in (area code,
        mapped state) puts in New York, so a scenario's times mean what they say."""
        while True:
            state = self.person()
            if _only_in_new_york(state):
                return state

    def _used(self, phone: str) -> bool:
        return phone in self.used


def _only_in_new_york(state: ContactState) -> bool:
    """Every zone the chokepoint may place this person in (area code, mapped state) is
    New York's, so the scenarios' times mean what they say."""
    assert state.phone is not None
    region = state_code(state.segments.get("region"))
    zones = set(number_facts(state.phone).zones) | set(state_zones(region) if region else ())
    return zones == {"America/New_York"}


def _ref(object_type: str, crm_id: str) -> CrmRef:
    return CrmRef(object_type, crm_id)


@contextmanager
def make_world(
    vendor: str,
    sandbox: Sandbox,
    tmp_path: Path,
    plays: Path,
    *,
    seeded_at: datetime,
    start: datetime,
    **env: str,
) -> Iterator[World]:
    """Seed at `seeded_at`, first pull (records seen for the first time emit no
    signals), then the clock at `start`."""
    sandbox.state.clock.set(seeded_at)
    sandbox.state.faults.clear()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    seed = generate(40, seed=8)
    sandbox.emulators[vendor].seed(seed)
    sandbox.emulators["twilio"].seed(seed)
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(db)
    settings = sandbox_settings(sandbox, **{"SMSYNC_CRM": vendor, "SMSYNC_DATABASE_URL": db, **env})
    mapping = load_mapping(ROOT / "mappings" / f"{vendor}.yaml")
    planner = PlaysPlanner(to_policy(load_plays(plays, mapping)))
    ctx = build(settings, clock=sandbox.state.clock, planner=planner, mapping=mapping).engine
    case = build_case(vendor, sandbox, seed)
    world = World(vendor, sandbox, ctx, db, case)
    pull.run(ctx)
    sandbox.state.clock.set(start)
    try:
        yield world
    finally:
        ctx.store.close()
        sandbox.state.clock.set(datetime.now(UTC))


@contextmanager
def webhooks_served(world: World, sandbox: Sandbox) -> Iterator[str]:
    """The world's signed webhook app on a loopback port, and the sandbox's Twilio told to
    post to it, so handset replies reach the world's store as they would `smsync run`."""
    hook = Settings(TWILIO_AUTH_TOKEN=sandbox.credentials.twilio_auth_token, database_url=world.db)
    app = build_webhook_app(hook, world.ctx.store, clock=sandbox.state.clock)
    with Served(app) as served:
        r = requests.post(
            f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
            json={"base_url": served.url},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        yield served.url
