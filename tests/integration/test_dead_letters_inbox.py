"""Issue 22: a poison inbox item is dead-lettered (at once when its data is refused, after
`SMSYNC_MAX_ATTEMPTS_INBOX` attempts otherwise) and never blocks the items behind it;
channel-prefixed senders fit; no log line carries a body or SQL parameters. SQLite and
Postgres, through the real ingest step and store."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from connector.config import Settings, load_mapping
from connector.domain.model import (
    CrmRef,
    CrmWrite,
    Direction,
    Message,
    MessageStatus,
    WriteResult,
)
from connector.engine import ingest
from connector.engine.context import EngineContext
from connector.errors import AuthError, RetriableError
from connector.ports import Cursor, Owner, PullBatch
from connector.runtime import gauges
from connector.store import SqlStore, crm_outbox, failure_ledger, inbox, messages, sms_outbox
from connector.store import tables as tb
from connector.store.records import InboxItem

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
BODY = "Tuesday at 4 works, my door code is 8812"  # must never reach a log line
MAX = 3
LONG = "+1415555012345678901234567"  # 25 characters, no number the CRM could be asked for


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class LookupCrm:
    """Ingest asks the CRM only who an unknown sender is; `fail` makes that call fail."""

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.asked: list[str] = []

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        self.asked.append(phone_e164)
        if self.fail is not None:
            raise self.fail
        return []

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        raise AssertionError("not part of ingest")

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        raise AssertionError("not part of ingest")

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        raise AssertionError("not part of ingest")

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}

    def probe(self) -> None:
        raise AssertionError("not part of ingest")


@pytest.fixture
def ctx(store: SqlStore) -> EngineContext:
    return EngineContext(
        settings=Settings(max_attempts_inbox=MAX),
        mapping=load_mapping(ROOT / "mappings" / "salesforce.yaml"),
        store=store,
        crm=LookupCrm(),
        sms=None,
        clock=FrozenClock(T0),
        worker_id="w1",
    )


def _crm(ctx: EngineContext) -> LookupCrm:
    assert isinstance(ctx.crm, LookupCrm)
    return ctx.crm


def _later(ctx: EngineContext, by: timedelta) -> None:
    assert isinstance(ctx.clock, FrozenClock)
    ctx.clock.at += by


def _queue(ctx: EngineContext, sid: str, **fields: Any) -> None:
    payload = {
        "source": "poll",
        "sid": sid,
        "from": "+12125550123",
        "to": "+15005550006",
        "body": BODY,
        "at": T0.isoformat(),
        "opt_out_type": None,
        "num_segments": 1,
    } | fields
    with ctx.store.begin() as conn:
        assert inbox.insert_if_new(conn, sid, "inbound", payload, T0)


def _item(ctx: EngineContext, sid: str) -> InboxItem:
    with ctx.store.begin() as conn:
        item = inbox.get(conn, sid)
    assert item is not None
    return item


def _activity(ctx: EngineContext, sid: str) -> CrmWrite | None:
    with ctx.store.begin() as conn:
        row = crm_outbox.get(conn, f"sms:{sid}")
    return None if row is None else row.write


def _leaks(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """Log entries carrying the body, a statement or its parameters."""
    return [
        e for e in logs if any(s in str(e) for s in (BODY, "8812", "[SQL", "parameters", "INSERT"))
    ]


def test_a_poison_item_is_dead_lettered_at_once_and_the_next_goes_through(
    ctx: EngineContext,
) -> None:
    _queue(ctx, "SMpoison", num_segments=10**23)  # as a polled or legacy row would hold it
    _queue(ctx, "SMgood")
    with capture_logs() as logs:
        report = ingest.run(ctx)
    assert (report.claimed, report.processed, report.failed, report.dead) == (2, 1, 1, 1)

    poison = _item(ctx, "SMpoison")
    assert (poison.dead_at, poison.processed_at, poison.attempts) == (T0, None, 1)
    assert poison.last_error is not None
    assert BODY not in poison.last_error
    assert "[SQL" not in poison.last_error
    good = _activity(ctx, "SMgood")
    assert good is not None
    assert good.fields["body"] == BODY

    dead = [e for e in logs if e["event"] == "ingest.dead_lettered"]
    assert len(dead) == 1
    assert dead[0]["log_level"] == "warning"
    assert (dead[0]["key"], dead[0]["attempts"], dead[0]["why"]) == ("SMpoison", 1, "permanent")
    assert dead[0]["error"] in ("OverflowError", "NumericValueOutOfRange")
    assert dead[0]["detail"] == poison.last_error
    assert [e["event"] for e in logs].count("ingest.item_failed") == 1
    assert _leaks(logs) == []
    with ctx.store.begin() as conn:
        entry = failure_ledger.get_open(conn, "inbox", "SMpoison")
    assert entry is not None
    assert entry.reason_code == dead[0]["error"]
    assert BODY not in entry.message

    # never claimed again, however long one waits
    _later(ctx, timedelta(days=2))
    assert ingest.run(ctx).claimed == 0


def test_nul_bytes_a_body_drops_them_a_sender_is_dead_lettered(ctx: EngineContext) -> None:
    _queue(ctx, "SMnulbody", body="see you\x00 soon")
    _queue(ctx, "SMnulfrom", **{"from": "+1212555\x000123"})
    report = ingest.run(ctx)
    assert (report.processed, report.dead) == (1, 1)
    body = _activity(ctx, "SMnulbody")
    assert body is not None
    assert body.fields["body"] == "see you soon"
    sender = _item(ctx, "SMnulfrom")
    assert sender.dead_at == T0
    assert sender.last_error == "ValueError: the 'from' address holds a control character"


@pytest.mark.parametrize(
    ("sender", "known_as"),
    [
        ("whatsapp:+14155550123", "+14155550123"),  # matched to contacts by its number
        (LONG, LONG),  # no number in it: kept as sent
    ],
)
def test_channel_prefixed_and_long_addresses_are_processed(
    ctx: EngineContext, sender: str, known_as: str
) -> None:
    _queue(ctx, "SMchannel", **{"from": sender, "to": "whatsapp:+15005550006"})
    report = ingest.run(ctx)
    assert (report.processed, report.dead) == (1, 0)
    activity = _activity(ctx, "SMchannel")
    assert activity is not None
    assert activity.fields["phone"] == known_as
    with ctx.store.begin() as conn:
        stored = messages.get(conn, "SMchannel")
    assert stored is not None
    assert (stored.from_, stored.to) == (known_as, "whatsapp:+15005550006")


def test_a_failing_item_backs_off_then_is_dead_lettered_after_the_maximum(
    ctx: EngineContext,
) -> None:
    _crm(ctx).fail = RetriableError("CRM unavailable")
    _queue(ctx, "SMunknown")  # an unknown sender: ingest must ask the CRM, which fails
    _queue(ctx, "SMlong", **{"from": LONG})  # no CRM look-up
    first = ingest.run(ctx)
    assert (first.processed, first.failed, first.dead) == (1, 1, 0)
    with ctx.store.begin() as conn:
        lease = conn.execute(
            sa.select(tb.inbox.c.lease_until).where(tb.inbox.c.provider_id == "SMunknown")
        ).scalar_one()
    assert lease == T0 + timedelta(seconds=30)
    assert ingest.run(ctx).claimed == 0  # backing off: the queue behind it is not held up
    _later(ctx, timedelta(seconds=30))
    assert ingest.run(ctx).failed == 1
    assert ingest.run(ctx).claimed == 0
    _later(ctx, timedelta(seconds=59))
    assert ingest.run(ctx).claimed == 0  # the second wait is twice the first
    _later(ctx, timedelta(seconds=1))
    with capture_logs() as logs:
        last = ingest.run(ctx)
    assert (last.failed, last.dead) == (1, 1)
    assert len(_crm(ctx).asked) == MAX
    item = _item(ctx, "SMunknown")
    assert (item.attempts, item.processed_at) == (MAX, None)
    assert item.last_error == "RetriableError: CRM unavailable"
    dead = [e for e in logs if e["event"] == "ingest.dead_lettered"]
    assert [(e["why"], e["error"], e["attempts"]) for e in dead] == [
        ("exhausted", "RetriableError", MAX)
    ]
    _crm(ctx).fail = None
    _later(ctx, timedelta(days=1))
    assert ingest.run(ctx).claimed == 0


def test_a_fatal_error_stops_the_run_without_spending_attempts(ctx: EngineContext) -> None:
    _crm(ctx).fail = AuthError("the CRM refused our credentials")
    _queue(ctx, "SMfirst")
    _queue(ctx, "SMsecond")
    for _ in range(MAX + 2):
        report = ingest.run(ctx)
        assert report.stopped == "AuthError: the CRM refused our credentials"
        assert (report.claimed, report.failed, report.dead) == (2, 0, 0)
    for sid in ("SMfirst", "SMsecond"):
        item = _item(ctx, sid)
        assert (item.attempts, item.dead_at) == (0, None)
    _crm(ctx).fail = None
    assert ingest.run(ctx).processed == 2


def test_a_spent_item_is_dead_lettered_at_claim_a_crash_bystander_is_not(
    ctx: EngineContext,
) -> None:
    """The issue's row (126 attempts, a last_error carrying the statement and the body) is
    dead-lettered before it is claimed again; an item that only sat in batches whose worker
    died (many attempts, never failed) is processed."""
    _queue(ctx, "SMlegacy")
    _queue(ctx, "SMbystander", **{"from": LONG})
    parameters = f"[parameters: ('SMlegacy', '{BODY}')]"
    legacy_error = "\n".join(
        (
            "OverflowError: Python int too large to convert to SQLite INTEGER",
            "[SQL: INSERT INTO messages (sid, body) VALUES (?, ?)]",
            parameters,
        )
    )
    with ctx.store.begin() as conn:
        for sid, error in (("SMlegacy", legacy_error), ("SMbystander", None)):
            conn.execute(
                sa.update(tb.inbox)
                .where(tb.inbox.c.provider_id == sid)
                .values(attempts=126, last_error=error, claimed_by="gone", lease_until=T0)
            )
    with capture_logs() as logs:
        report = ingest.run(ctx)
    assert (report.claimed, report.processed, report.dead) == (1, 1, 1)
    legacy = _item(ctx, "SMlegacy")
    assert (legacy.attempts, legacy.dead_at) == (126, T0)
    assert legacy.last_error == "OverflowError: Python int too large to convert to SQLite INTEGER"
    bystander = _item(ctx, "SMbystander")
    assert (bystander.processed_at, bystander.dead_at) == (T0, None)
    assert _leaks(logs) == []
    with ctx.store.begin() as conn:
        entry = failure_ledger.get_open(conn, "inbox", "SMlegacy")
    assert entry is not None
    assert entry.reason_code == "attempts_exhausted"
    assert BODY not in entry.message


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_gauge_counts_dead_letters_per_queue(ctx: EngineContext) -> None:
    _queue(ctx, "SMpoison", num_segments=10**23)
    _queue(ctx, "SMwaiting", **{"from": LONG})
    ingest.run(ctx, max_items=1)  # the poison only: the other one is still waiting
    with ctx.store.begin() as conn:
        for n in range(2):
            sms_outbox.enqueue(
                conn, f"help:SM{n}", to="+14155552671", body="hi", send_at=T0, now=T0
            )
            [row] = sms_outbox.claim(conn, "w1", 1, 60, T0)
            assert sms_outbox.bury(conn, row.id, "TwilioRecordError: 21606", T0, "w1")
    gauges.refresh(ctx.store, T0)
    assert _sample("smsync_dead_letters", queue="inbox") == 1
    assert _sample("smsync_dead_letters", queue="sms") == 2
    assert _sample("smsync_dead_letters", queue="crm") == 0
    assert _sample("smsync_inbox_depth") == 1  # a dead letter is not waiting
    assert _sample("smsync_retry_ledger_open", effect="inbox") == 1


def test_error_codes_out_of_the_column_range_are_stored_as_unknown(store: SqlStore) -> None:
    """A polled status with a nonsensical code still moves the message on."""
    sent = Message(
        sid="SMout",
        direction=Direction.OUTBOUND,
        from_="+15005550006",
        to="+14155552671",
        body="hi",
        status=MessageStatus.SENT,
        at=T0,
    )
    with store.begin() as conn:
        messages.upsert(conn, sent, T0)
        assert messages.apply_status(
            conn, "SMout", MessageStatus.UNDELIVERED, at=T0, now=T0, error_code=10**23
        )
        stored = messages.get(conn, "SMout")
    assert stored is not None
    assert (stored.status, stored.error_code) == (MessageStatus.UNDELIVERED, None)
