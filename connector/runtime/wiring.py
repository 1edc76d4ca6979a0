"""The composition root: the one place that turns settings into a store, the adapters, a
clock, a worker id, the token vault, the id map and the engine steps over them.

`smsync run`, `sync --once`, the demo and the tests call `build`; the commands that need
only a part of it (`send`, `explain`, `classify`) call the same builders `build` does
(`open_store`, `sms_adapter`, `load_config`, `UtcClock`, `worker_id`).
The clock is the wall clock, or with `SMSYNC_SANDBOX_CLOCK_URL` the sandbox's clock
followed over HTTP (`clock_for`), so a hand-run sidecar's timers and quiet hours move with
the sandbox.
It works in two stages so that a configuration mistake changes nothing: `configure`
reads and checks everything offline (the mapping, the plays file, the database URL, every
credential) and opens nothing; `build` then opens the store (unless given one) and wires
the parts over it. `smsync run` runs its vendor checks and migrations between the two;
the other callers let `build` run both stages.

The engine itself never imports an adapter: the reconcile step (Twilio's poll) and each
step's dependencies (leases, attempts, the scheduler's `wake`) are bound here."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from connector.clock import FollowedOffset, UtcClock
from connector.config import MappingConfig, Settings, load_mapping, mapping_path
from connector.crm import build_crm
from connector.engine.context import EngineContext, Planner
from connector.engine.pause import CrmPause
from connector.engine.plan import build_planner
from connector.engine.reconcile import PollResult, poll
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.errors import ConfigError
from connector.ports import Clock, CrmPort, IdMap, SmsPort, TokenVault
from connector.runtime import startup
from connector.runtime.vault import StartupVault
from connector.sms.twilio.client import TwilioSms
from connector.store import SqlStore
from connector.store.database import safe_url
from connector.store.id_map import StoreIdMap
from connector.store.migrate import require_current
from connector.store.oauth_tokens import StoreTokenVault

if TYPE_CHECKING:
    from connector.crm.hubspot.auth import TokenSource


def worker_id() -> str:
    """This process's name on the leases it takes (`host:pid`)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _FromSettings:
    """`build(planner=...)`'s default: the plays file the settings name, if any."""


FROM_SETTINGS: Final = _FromSettings()


def _no_wake(_step: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Configured:
    """Everything read and checked before the database is touched."""

    settings: Settings
    mapping: MappingConfig
    planner: Planner | None
    sms: TwilioSms | None
    clock: Clock
    worker_id: str
    hubspot_tokens: TokenSource | None  # shared by the adapter and the readiness checks
    token_vault: TokenVault | None  # where a rotated HubSpot OAuth pair is kept


def load_config(
    settings: Settings,
    *,
    mapping: MappingConfig | None = None,
    planner: Planner | _FromSettings | None = FROM_SETTINGS,
) -> tuple[MappingConfig, Planner | None]:
    """The mapping (checked against SMSYNC_CRM) and the planner of the plays file the
    settings name (validated against that mapping); MappingError or PlaysError else."""
    config = mapping if mapping is not None else load_mapping(mapping_path(settings))
    if config.crm != settings.crm:
        raise ConfigError(
            f"SMSYNC_CRM is {settings.crm!r} but the mapping file is for {config.crm!r};"
            " point SMSYNC_MAPPINGS at the matching file"
        )
    chosen = build_planner(settings, config) if isinstance(planner, _FromSettings) else planner
    return config, chosen


def clock_for(settings: Settings) -> UtcClock:
    """The wall clock, or the clock at SMSYNC_SANDBOX_CLOCK_URL (read first by `build`)."""
    if settings.sandbox_clock_url:
        return UtcClock(FollowedOffset(settings.sandbox_clock_url))
    return UtcClock()


def open_store(settings: Settings) -> SqlStore:
    """The store at SMSYNC_DATABASE_URL, which must be migrated (else ConfigError naming
    `smsync db upgrade`); creates nothing."""
    require_current(settings.database_url)
    return SqlStore.from_url(settings.database_url)


def sms_adapter(settings: Settings) -> TwilioSms:
    """The SMS adapter; ConfigError naming the missing Twilio settings."""
    return TwilioSms.from_settings(settings)


def configure(
    settings: Settings,
    *,
    store: SqlStore | None = None,
    clock: Clock | None = None,
    mapping: MappingConfig | None = None,
    planner: Planner | _FromSettings | None = FROM_SETTINGS,
    require_sms: bool = False,
) -> Configured:
    """Read and check the configuration; raises ConfigError (every missing credential
    named at once) and opens nothing. Without `require_sms`, Twilio is wired only when its
    credentials are set."""
    config, chosen = load_config(settings, mapping=mapping, planner=planner)
    if store is None:
        safe_url(settings.database_url)  # a malformed URL is a ConfigError here
    the_clock: Clock = clock if clock is not None else clock_for(settings)
    vault: TokenVault | None = None
    if settings.crm == "hubspot":
        vault = (
            StoreTokenVault(store, "hubspot", the_clock.now)
            if store is not None
            else StartupVault(settings.database_url, "hubspot", the_clock.now)
        )
    with_sms = require_sms or bool(settings.twilio_account_sid and settings.twilio_auth_token)
    sms, tokens = startup.credentials(settings, vault=vault, sms=with_sms)
    return Configured(settings, config, chosen, sms, the_clock, worker_id(), tokens, vault)


@dataclass(frozen=True, slots=True)
class Components:
    """One process's parts. `engine` is what the engine steps run over; `writeback()` and
    `reconcile` are the steps whose dependencies are bound here, not read off a context."""

    settings: Settings
    mapping: MappingConfig
    store: SqlStore
    crm: CrmPort
    sms: SmsPort | None
    clock: Clock
    worker_id: str
    token_vault: TokenVault | None
    id_map: IdMap | None
    planner: Planner | None
    hubspot_tokens: TokenSource | None
    wake: Callable[[str], bool]
    engine: EngineContext
    reconcile: Callable[[], PollResult] | None
    crm_pause: CrmPause = field(default_factory=CrmPause)
    owns_store: bool = False

    def writeback(self, pause: CrmPause | None = None) -> Writeback:
        """The writeback step under the settings' lease and attempts; `pause` shared with
        the readiness hook in the sidecar, a fresh one per drain elsewhere."""
        return Writeback(
            self.store,
            self.crm,
            self.clock,
            self.settings.crm,
            self.worker_id,
            WritebackPolicy.from_settings(self.settings),
            pause if pause is not None else CrmPause(),
        )

    def close(self) -> None:
        close = getattr(self.crm, "close", None)  # the adapters' HTTP sessions
        if callable(close):
            close()
        if isinstance(self.clock, UtcClock):
            self.clock.close()
        if self.owns_store:
            self.store.close()


def build(
    settings: Settings,
    *,
    store: SqlStore | None = None,
    clock: Clock | None = None,
    mapping: MappingConfig | None = None,
    planner: Planner | _FromSettings | None = FROM_SETTINGS,
    require_sms: bool = False,
    wake: Callable[[str], bool] = _no_wake,
    configured: Configured | None = None,
) -> Components:
    """The components for `settings`. `store` (else opened from SMSYNC_DATABASE_URL, which
    must be migrated), `clock`, `mapping` and `planner` override the settings' own (tests,
    the demo); `configured` is what `configure` already checked (`smsync run`); `wake(step)`
    tells the scheduler a step has new work."""
    c = configured or configure(
        settings,
        store=store,
        clock=clock,
        mapping=mapping,
        planner=planner,
        require_sms=require_sms,
    )
    if isinstance(c.clock, UtcClock):
        c.clock.sync()  # a sandbox clock that cannot be read stops here, before any job
    db = store if store is not None else open_store(settings)
    if isinstance(c.token_vault, StartupVault):
        c.token_vault.attach(db)
    local_map = settings.crm == "hubspot" and c.mapping.idempotency_mode == "local_map"
    id_map = StoreIdMap(db, c.clock.now) if local_map else None
    crm = build_crm(
        settings, c.mapping, id_map=id_map, hubspot_tokens=c.hubspot_tokens, clock=c.clock
    )
    sms = c.sms
    reconcile: Callable[[], PollResult] | None = None
    if sms is not None:
        twilio, now = sms, c.clock.now
        reconcile = lambda: poll(twilio, db, now=now)  # noqa: E731 - a bound step
    engine = EngineContext(
        settings=settings,
        mapping=c.mapping,
        store=db,
        crm=crm,
        sms=sms,
        clock=c.clock,
        worker_id=c.worker_id,
        planner=c.planner,
        on_enqueue=wake,
        reconcile=reconcile,
    )
    return Components(
        settings=settings,
        mapping=c.mapping,
        store=db,
        crm=crm,
        sms=sms,
        clock=c.clock,
        worker_id=c.worker_id,
        token_vault=c.token_vault,
        id_map=id_map,
        planner=c.planner,
        hubspot_tokens=c.hubspot_tokens,
        wake=wake,
        engine=engine,
        reconcile=reconcile,
        owns_store=store is None,
    )
