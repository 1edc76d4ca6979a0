"""What the operator commands share: the store opened only when already migrated (a read
never creates a database), the sidecar's now, ISO times, and who is acting."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa

from connector.cli.app import fail


@contextmanager
def migrated_store() -> Iterator[sa.Connection]:
    """One transaction on the configured store; a ConfigError (exit 2, nothing created)
    when the database is missing or not at the current revision."""
    from connector.config import load_settings
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    url = load_settings().database_url
    require_current(url)
    store = SqlStore.from_url(url)
    try:
        with database_errors(url), store.begin() as conn:
            yield conn
    finally:
        store.close()


def sidecar_now() -> datetime:
    """Now on the clock `smsync run` keeps: the wall clock, or the sandbox's with
    SMSYNC_SANDBOX_CLOCK_URL (exit 2 naming the fix when it cannot be read), so ages and a
    retry's due time agree with the rows the sidecar writes."""
    from connector.config import load_settings
    from connector.runtime.wiring import clock_for

    clock = clock_for(load_settings())
    try:
        return clock.sync()
    finally:
        clock.close()


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; naive values are UTC."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO date or time (e.g. 2026-12-01 or 2026-12-01T09:00)")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def actor(by: str | None) -> str:
    """`--by`, else $USER, else the login name."""
    if by and by.strip():
        return by.strip()
    try:
        return os.environ.get("USER") or getpass.getuser()
    except OSError:
        return "unknown"


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
