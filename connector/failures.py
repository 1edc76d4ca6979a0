"""What an operator is told about a failure, and whether trying the same item again can help.

`describe` is the one way an exception becomes text for a log line, a row's `last_error`
or the retry ledger. A SQLAlchemy error's own text carries the statement and its bound
parameters (``[SQL: ...] [parameters: ...]``), which hold message bodies and phone
numbers; only the driver's first line is kept, scrubbed and bounded.

`permanent` separates the data an item carries (a number too large for its column, text
Postgres cannot store, a payload missing a field) from the weather (a lost connection, a
locked database, a vendor outage): the first fails the same way on every attempt, so the
item is dead-lettered at once; the second is retried with `backoff` up to a maximum."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy.exc as sa_exc

from connector.logs import scrub_text

MAX_DETAIL = 300
# Unique keys collide when a concurrent writer got there first: trying again sees its row.
_UNIQUE_SQLSTATES = frozenset({"23505"})
_UNIQUE_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
# Raised while building records from a payload or binding a value the store cannot hold.
_DATA_ERRORS = (OverflowError, ValueError, TypeError, LookupError)


def _origin(exc: BaseException) -> BaseException:
    """The driver's exception behind a SQLAlchemy wrapper (or the exception itself)."""
    if isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, BaseException):
        return exc.orig
    return exc


def describe(exc: BaseException) -> str:
    """`ClassName: first line of the message`, without SQL, parameters, secrets or whole
    phone numbers; at most `MAX_DETAIL` characters."""
    origin = _origin(exc)
    first = describe_text(str(origin))
    return (f"{type(origin).__name__}: {first}" if first else type(origin).__name__)[:MAX_DETAIL]


def describe_text(text: str) -> str:
    """The first line of an error's text, cut before any statement or parameters and
    scrubbed (also for a `last_error` stored before this module existed)."""
    for marker in ("[SQL:", "[parameters:", "(Background on this error"):
        text = text.split(marker, 1)[0]
    lines = text.strip().splitlines()
    return scrub_text(lines[0].strip() if lines else "")[:MAX_DETAIL]


def error_class(exc: BaseException) -> str:
    """The class an operator groups failures by (the driver's, behind a wrapper)."""
    return type(_origin(exc)).__name__


def permanent(exc: BaseException) -> bool:
    """True when the same item would fail the same way however often it is tried."""
    if isinstance(exc, sa_exc.DataError):
        return True  # Postgres class 22: too long, out of range, NUL in text, bad syntax
    if isinstance(exc, sa_exc.IntegrityError):
        return not _unique_violation(exc.orig)  # NOT NULL, CHECK: the item's own values
    if isinstance(exc, sa_exc.DBAPIError):
        return False  # connection loss, locks, timeouts, serialisation: the weather
    if isinstance(exc, sa_exc.StatementError):
        # a value refused before it reached the driver (an integer SQLite cannot hold)
        return isinstance(exc.orig, _DATA_ERRORS)
    return isinstance(exc, _DATA_ERRORS)


def _unique_violation(orig: BaseException | None) -> bool:
    if getattr(orig, "sqlstate", None) in _UNIQUE_SQLSTATES:
        return True
    return getattr(orig, "sqlite_errorname", None) in _UNIQUE_SQLITE


def backoff(attempts: int, base_s: float = 30.0, cap_s: float = 3600.0) -> timedelta:
    """Exponential, capped: `base_s` after the first attempt, doubling, never above `cap_s`,
    so a failing item neither hammers its dependency nor waits for days."""
    exponent = min(max(attempts - 1, 0), 32)
    return timedelta(seconds=min(base_s * 2**exponent, cap_s))
