"""connector/failures.py on plain exceptions: the one-liner and the back-off."""

from __future__ import annotations

from datetime import timedelta

from connector.errors import RetriableError
from connector.failures import MAX_DETAIL, backoff, describe, describe_text, permanent


def test_describe_keeps_the_class_and_the_first_line_only() -> None:
    text = describe(ValueError("bad value for +14155550123\nsecond line with the body"))
    assert text == "ValueError: bad value for +1415***0123"
    assert describe(KeyError("sid")) == "KeyError: 'sid'"
    assert describe(RuntimeError()) == "RuntimeError"
    assert len(describe(ValueError("x" * 1000))) == MAX_DETAIL


def test_describe_text_cuts_a_stored_statement_and_its_parameters() -> None:
    stored = "DataError: value too long [SQL: INSERT INTO t VALUES (%s)] [parameters: ('hi',)]"
    assert describe_text(stored) == "DataError: value too long"


def test_data_errors_are_permanent_vendor_trouble_is_not() -> None:
    assert permanent(OverflowError("int too large"))
    assert permanent(KeyError("sid"))
    assert not permanent(RetriableError("CRM unavailable"))
    assert not permanent(ConnectionError("reset"))


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(n, 30, 3600) for n in range(1, 10)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert waits[-1] == timedelta(hours=1)
    assert backoff(10**6) == timedelta(hours=1)  # no overflow, however many attempts
