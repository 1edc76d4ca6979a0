"""The product's one clock (`connector.ports.Clock`): the wall clock, optionally moved by
the offset of another clock read over HTTP, which is how a hand-run sidecar lives on the
sandbox's clock (`SMSYNC_SANDBOX_CLOCK_URL`). Tests and the demo pass their own (the
sandbox's accelerated clock among them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests
import structlog

from connector.errors import ConfigError

log = structlog.get_logger(__name__)


class UtcClock:
    """UTC now; with `follow`, moved by that followed clock's offset."""

    def __init__(self, follow: FollowedOffset | None = None) -> None:
        self.follow = follow

    def now(self) -> datetime:
        if self.follow is None:
            return datetime.now(UTC)
        return datetime.now(UTC) + self.follow.offset()

    def sync(self) -> datetime:
        """Now, reading a followed clock first: a ConfigError naming the fix when it cannot
        be read (what a command or the sidecar checks before it acts)."""
        return self.follow.sync() if self.follow is not None else self.now()

    def close(self) -> None:
        if self.follow is not None:
            self.follow.close()


class FollowedOffset:
    """How far the clock at `url` is from the wall clock (a GET answering
    `{"now": "<ISO time with zone>"}`, as the sandbox's `/__sandbox/clock` does), read
    again every `refresh_s` seconds. Between reads it runs at wall speed, so a moved or
    pinned sandbox clock is followed within `refresh_s`. A read that fails keeps the last
    offset (and logs it); only the first read, `sync()` at startup, raises."""

    def __init__(
        self,
        url: str,
        *,
        refresh_s: float = 1.0,
        session: requests.Session | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self._session = session or _plain_session()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._offset: timedelta | None = None
        self._read_at = 0.0

    def sync(self) -> datetime:
        """Read the followed clock now; ConfigError saying how to fix a clock that cannot
        be read."""
        try:
            return self._read()
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"SMSYNC_SANDBOX_CLOCK_URL: cannot read the clock at {self.url}"
                f" ({type(exc).__name__}); start the sandbox (`smsync sandbox serve`) and set"
                " it to the admin URL's /__sandbox/clock, or unset it to run on the wall clock"
            ) from exc

    def offset(self) -> timedelta:
        with self._lock:
            due = self._offset is None or self._monotonic() - self._read_at >= self.refresh_s
        if due:
            try:
                self._read()
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                log.warning("clock.follow_failed", error=type(exc).__name__)
                with self._lock:
                    self._read_at = self._monotonic()  # try again after refresh_s, not now
        with self._lock:
            return self._offset or timedelta(0)

    def _read(self) -> datetime:
        before = datetime.now(UTC)
        r = self._session.get(self.url, timeout=5)
        r.raise_for_status()
        theirs = datetime.fromisoformat(str(r.json()["now"]))
        if theirs.tzinfo is None:
            raise ValueError("the followed clock's time carries no zone")
        after = datetime.now(UTC)
        mid = before + (after - before) / 2  # the moment it answered, give or take the trip
        with self._lock:
            self._offset = theirs - mid
            self._read_at = self._monotonic()
            return after + self._offset

    def close(self) -> None:
        self._session.close()


def _plain_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a loopback admin URL: no proxy, no REQUESTS_CA_BUNDLE
    return session
