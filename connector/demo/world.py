"""The demo's world: the sandbox, a throw-away SQLite store, the webhook app on a real
loopback port, and the `smsync run` job bodies over the components `wiring.build` makes.

Everything here is the real machinery. The only thing the demo drives by hand is *when*
each job runs: `smsync run` fires them on APScheduler intervals in real time, whereas the
demo calls the very same job bodies (`connector.runtime.registry.FACTORIES`) in data-flow
order after each scripted event, so a business day on the accelerated clock reads the same
on every run."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import uvicorn
import yaml

from connector.config import MappingConfig, Settings, load_settings
from connector.runtime.app import build_app
from connector.runtime.jobs import JobFn
from connector.runtime.links import link_routes
from connector.runtime.readiness import Readiness, standard_checks
from connector.runtime.registry import FACTORIES
from connector.runtime.webhooks import webhook_routes
from connector.runtime.wiring import Components, build
from connector.sandbox.server import Sandbox, bind_loopback
from connector.store import SqlStore
from connector.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
DEMO_PLAYS = MAPPINGS / "plays.yaml"  # the shipped example plays, as an admin starts
# The order of one pass of the data flow (planning runs inside the pull).
CYCLE = ("pull", "rep_send", "send", "reconcile", "ingest", "writeback", "sweep", "writeback")


class Served:
    """An ASGI app behind uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock = sock
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the demo's webhook app did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def sandbox_mapping(sandbox: Sandbox, crm: str, workdir: Path) -> Path:
    """The example mapping, with Salesforce routing pointed at the sandbox's Users.

    mappings/salesforce.yaml names team leads and members by the Ids of a real org
    (005000000000009AAA...), which the sandbox does not have: their escalation tasks would
    fail with INVALID_CROSS_REFERENCE_KEY. The copy names the seeded Users of each team,
    as an admin would for their own org. HubSpot's example owners exist in its sandbox."""
    source = MAPPINGS / f"{crm}.yaml"
    if crm != "salesforce":
        return source
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    emulator = sandbox.emulators["salesforce"]
    everyone: list[str] = []
    for team in doc.get("routing", {}).get("teams", []):
        users = sorted(str(u["Id"]) for u in emulator.find("User", "Team__c", team["name"]))
        if users:
            team["members"] = users[:-1] or users
            team["lead_id"] = users[-1]
            if "fallback_owner_id" in team:
                team["fallback_owner_id"] = users[0]
            everyone += users
    if everyone and "routing" in doc:
        doc["routing"]["escalation_owner_id"] = everyone[-1]
    target = workdir / "salesforce.yaml"
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return target


def demo_settings(  # noqa: PLR0917 (one more: the plays file)
    sandbox: Sandbox,
    crm: str,
    database_url: str,
    public_url: str,
    mapping: Path,
    plays: Path = DEMO_PLAYS,
) -> Settings:
    """Settings from the sandbox's `env()` as an operator would export them, plus the CRM,
    the temp database and the webhook app's URL; passed as overrides so that whatever the
    user's shell exports (a real `SMSYNC_DATABASE_URL`...) cannot leak in."""
    overrides: dict[str, Any] = {}
    for key, value in sandbox.env().items():
        name = key.removeprefix("SMSYNC_").lower() if key.startswith("SMSYNC_") else key
        overrides[name] = value
    overrides.update(
        crm=crm,
        database_url=database_url,
        mappings=mapping,
        plays=plays,
        public_base_url=public_url,
        log_level="warning",
    )
    return load_settings(**overrides)


@dataclass
class World:
    """What a scenario acts on. `run(*jobs)` runs job bodies now, in the order given."""

    crm: str
    sandbox: Sandbox
    settings: Settings
    mapping: MappingConfig
    store: SqlStore
    jobs: dict[str, JobFn]
    served: Served
    stopping: threading.Event = field(default_factory=threading.Event)
    on_job: Callable[[str], None] | None = None

    def run(self, *names: str) -> None:
        for name in names or CYCLE:
            self.jobs[name](self.stopping)
            if self.on_job is not None:
                self.on_job(name)

    @property
    def now(self) -> datetime:
        return self.sandbox.state.clock.now()


class DemoWorld:
    """Builds the world and tears all of it down (the temp dir included) on exit; only a
    database asked for with `keep_db` stays."""

    def __init__(
        self,
        crm: str,
        contacts: int,
        at: datetime,
        *,
        seed: int = 7,
        keep_db: Path | None = None,
        plays: Path | None = None,
    ) -> None:
        """`keep_db`: put the SQLite database there and leave it (for `smsync report`);
        it must not exist yet, so a real store is never written to by the demo."""
        if keep_db is not None and keep_db.exists():
            raise ValueError(f"--keep-db {keep_db} already exists; the demo wants a new file")
        self.crm = crm
        self.contacts = contacts
        self.at = at
        self.seed = seed
        self.plays = plays or DEMO_PLAYS
        self._tmp = Path(tempfile.mkdtemp(prefix="smsync-demo-"))
        self._db = keep_db.resolve() if keep_db is not None else self._tmp / "smsync.db"
        self._sandbox: Sandbox | None = None
        self._served: Served | None = None
        self._store: SqlStore | None = None
        self._parts: Components | None = None

    def __enter__(self) -> World:
        try:
            return self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> World:
        sandbox = Sandbox(vendors=(self.crm, "twilio"), workdir=self._tmp / "sandbox")
        self._sandbox = sandbox.start()
        # the story starts before the records exist: their modstamps are on the demo clock
        sandbox.state.clock.set(self.at)
        sandbox.seed(self.contacts, seed=self.seed)
        self._db.parent.mkdir(parents=True, exist_ok=True)
        db = f"sqlite:///{self._db}"
        upgrade(db)
        store = SqlStore.from_url(db)
        self._store = store
        clock = sandbox.state.clock
        # the port first: the public base URL (what Twilio signs) must name it
        sock = bind_loopback()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        mapping_file = sandbox_mapping(sandbox, self.crm, self._tmp)
        settings = demo_settings(sandbox, self.crm, db, url, mapping_file, self.plays)
        # the scenario runs each job itself, in order: nothing to wake
        parts = build(settings, store=store, clock=clock, require_sms=True)
        self._parts = parts
        hooks = [*webhook_routes(settings, store, clock=clock), *link_routes(store, clock=clock)]
        checks = standard_checks(settings, store, hubspot_tokens=parts.hubspot_tokens, clock=clock)
        self._served = Served(build_app(Readiness(checks, cache_s=5.0), webhooks=hooks), sock)
        self._served.start()
        r = requests.post(
            f"{sandbox.urls['admin']}/__sandbox/twilio/webhook",
            json={"base_url": url},
            timeout=10,
        )
        r.raise_for_status()
        holder: dict[str, JobFn] = {}
        for name, factory in FACTORIES.items():
            if factory is None:
                raise RuntimeError(f"the {name} job is not available; the demo needs every stage")
            if name != "gauges":
                holder[name] = factory(parts)
        mapping = parts.mapping
        return World(self.crm, sandbox, settings, mapping, store, holder, self._served)

    def close(self) -> None:
        if self._served is not None:
            self._served.stop()
        if self._parts is not None:
            self._parts.close()
        if self._store is not None:
            self._store.close()
        if self._sandbox is not None:
            self._sandbox.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __exit__(self, *_: object) -> None:
        self.close()
