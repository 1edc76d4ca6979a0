"""The monotonic status machine as the store applies it, in any event order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.model import Direction, Message, MessageStatus
from connector.store import messages
from connector.store.database import SqlStore
from tests.migrated import upgrade

T0 = datetime(2024, 11, 4, 15, 0, tzinfo=UTC)
OUTBOUND = [
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
    MessageStatus.READ,
]
_sids = count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path_factory.mktemp('status') / 'smsync.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.sampled_from(OUTBOUND), min_size=1, max_size=8))
def test_any_order_ends_at_the_furthest_status(
    store: SqlStore, events: list[MessageStatus]
) -> None:
    sid = f"SM{next(_sids)}"
    message = Message(
        sid=sid,
        direction=Direction.OUTBOUND,
        from_="+14155550000",
        to="+14155550123",
        body="hi",
        status=MessageStatus.ACCEPTED,
        at=T0,
    )
    with store.begin() as conn:
        messages.upsert(conn, message, T0)
        applied = [messages.apply_status(conn, sid, e, at=T0, now=T0) for e in events]
        final = messages.get(conn, sid)
        kept = messages.events(conn, sid)
    assert final is not None
    top = max(e.rank for e in events)
    assert final.status.rank == top
    # Among equal-rank terminal statuses the first to arrive wins.
    assert final.status == next(e for e in events if e.rank == top)
    # Every raw event is kept, applied or not, and only forward moves applied.
    assert kept == list(zip(events, applied, strict=True))
    ranks = [e.rank for e, ok in kept if ok]
    assert ranks == sorted(set(ranks))


@settings(max_examples=40, deadline=None)
@given(
    before=st.lists(st.sampled_from(OUTBOUND), max_size=5),
    snapshot=st.sampled_from(OUTBOUND),
)
def test_events_before_the_row_are_folded_in(
    store: SqlStore, before: list[MessageStatus], snapshot: MessageStatus
) -> None:
    sid = f"SM{next(_sids)}"
    message = Message(
        sid=sid,
        direction=Direction.OUTBOUND,
        from_="+14155550000",
        to="+14155550123",
        body="hi",
        status=snapshot,
        at=T0,
    )
    with store.begin() as conn:
        for e in before:
            assert not messages.apply_status(conn, sid, e, at=T0, now=T0)
        stored = messages.upsert(conn, message, T0)
    assert stored.status.rank == max(e.rank for e in [snapshot, *before])
