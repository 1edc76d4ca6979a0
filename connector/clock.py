"""The wall clock: the one `connector.ports.Clock` the product runs on (tests and the demo
pass their own, the sandbox's accelerated clock among them)."""

from __future__ import annotations

from datetime import UTC, datetime


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
