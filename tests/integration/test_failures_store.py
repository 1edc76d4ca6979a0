"""connector/failures.py against the errors the real drivers raise (SQLite and Postgres):
what is permanent, what is the weather, and that the text keeps no SQL or parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from connector.domain.model import Direction, Message, MessageStatus
from connector.failures import describe, error_class, permanent
from connector.store import SqlStore, inbox, messages
from connector.store import tables as tb

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
BODY = "my door code is 8812"


def _raised(store: SqlStore, stmt: sa.Executable) -> BaseException:
    with pytest.raises(Exception) as caught, store.begin() as conn:  # noqa: PT011 - any driver error
        conn.execute(stmt)
    return caught.value


def test_a_value_the_column_cannot_hold_is_permanent_and_described_safely(
    store: SqlStore,
) -> None:
    message = Message(
        sid="SMbig",
        direction=Direction.INBOUND,
        from_="+12125550123",
        to="+15005550006",
        body=BODY,
        status=MessageStatus.RECEIVED,
        at=T0,
        num_segments=10**23,
    )
    with pytest.raises(Exception) as caught, store.begin() as conn:  # noqa: PT011 - any driver error
        messages.upsert(conn, message, T0)
    exc = caught.value
    assert permanent(exc)
    text = describe(exc)
    assert error_class(exc) in ("OverflowError", "NumericValueOutOfRange")
    assert text.startswith(error_class(exc) + ": ")
    for leak in (BODY, "8812", "+12125550123", "[SQL", "parameters", "INSERT", "\n"):
        assert leak not in text


def test_a_unique_collision_is_the_weather_a_missing_value_is_permanent(
    store: SqlStore,
) -> None:
    with store.begin() as conn:
        inbox.insert_if_new(conn, "SM1", "inbound", {"body": BODY}, T0)
    row = {"provider_id": "SM1", "kind": "inbound", "payload": {}, "received_at": T0}
    duplicate = _raised(store, sa.insert(tb.inbox).values(attempts=0, **row))
    assert isinstance(duplicate, sa.exc.IntegrityError)
    assert not permanent(duplicate)  # a concurrent writer got there first: try again
    missing = _raised(store, sa.insert(tb.inbox).values(provider_id="SM2", kind="inbound"))
    assert isinstance(missing, sa.exc.IntegrityError)
    assert permanent(missing)
    assert "[SQL" not in describe(missing)


def test_a_lost_connection_is_the_weather(store: SqlStore) -> None:
    if store.dialect == "postgresql":
        lost = _raised(store, sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
    else:  # the closest SQLite comes without a second process: the driver's operational error
        lost = _raised(store, sa.text("SELECT * FROM no_such_table"))
    assert isinstance(lost, sa.exc.OperationalError)
    assert not permanent(lost)
