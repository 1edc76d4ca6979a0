"""The sandbox clock: tests and the admin API move it, so time-based behaviour (status
progression, rate-limit windows, session expiry, modstamps) is deterministic."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Real time plus an offset that tests and the admin API can move, or pin."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime, *, freeze: bool = False) -> datetime:
        if when.tzinfo is None:
            raise ValueError("clock time must carry a time zone")
        with self._lock:
            if freeze:
                self._frozen = when.astimezone(UTC)
            else:
                self._frozen = None
                self._offset = when.astimezone(UTC) - datetime.now(UTC)
        return self.now()

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None
