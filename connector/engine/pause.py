"""Why CRM writes are paused, and when to ask the CRM again.

Writeback pauses on a stop: `auth` (the CRM refused our credentials) or `quota` (the daily
API budget share is used up). While paused it claims nothing, so no row spends an attempt
on a CRM that cannot take it; instead it probes the CRM (`CrmPort.probe`, one cheap read
that also refreshes the vendor's reported API usage) every `auth_probe_s` (10 s) after an
auth stop and every `quota_probe_s` (60 s) after a quota stop: the budget frees up slowly
and each probe spends a call of it (`WritebackPolicy`). The first probe that passes lifts
the pause and writeback goes on at once. `poke()` makes the next probe due now: `/readyz`
calls it when it sees the CRM check come back, so recovery need not wait for its turn.

The pause lives in the process that runs writeback. Rows released by a stop stay
claimable, so a replica that takes the writeback job over (or a restart) finds out for
itself with one batch."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.metrics import CRM_WRITES_PAUSED


@dataclass(frozen=True, slots=True)
class Paused:
    crm: str
    reason: str  # auth | quota
    detail: str
    since: datetime
    next_probe: datetime


class CrmPause:
    """Thread-safe: the writeback job stops and lifts it, the readiness hook pokes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: Paused | None = None
        self._poked = False

    @property
    def state(self) -> Paused | None:
        with self._lock:
            return self._state

    def stop(self, crm: str, reason: str, detail: str, now: datetime, probe_in_s: float) -> None:
        """Pause (or stay paused) for `reason`; the next probe is due `probe_in_s` later."""
        with self._lock:
            before = self._state
            since = before.since if before is not None else now
            self._state = Paused(crm, reason, detail, since, now + timedelta(seconds=probe_in_s))
            self._poked = False
        if before is not None and before.reason != reason:
            CRM_WRITES_PAUSED.labels(before.crm, before.reason).set(0)
        CRM_WRITES_PAUSED.labels(crm, reason).set(1)

    def due(self, now: datetime) -> bool:
        """True when paused and a probe is due (its time came, or it was poked)."""
        with self._lock:
            state = self._state
            return state is not None and (self._poked or now >= state.next_probe)

    def poke(self) -> bool:
        """Probe at the next chance; True when writes were paused."""
        with self._lock:
            self._poked = self._state is not None
            return self._poked

    def lift(self, now: datetime) -> float | None:
        """Writes may go again; how long they were paused (None: they were not)."""
        with self._lock:
            state, self._state, self._poked = self._state, None, False
        if state is None:
            return None
        CRM_WRITES_PAUSED.labels(state.crm, state.reason).set(0)
        return (now - state.since).total_seconds()
