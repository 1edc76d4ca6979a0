"""Issue 22: texts and CRM writes that keep failing end as dead letters after their queue's
maximum of attempts and are never sent or written again; a throttled text keeps its
attempts. The real send and writeback steps against the sandbox's Twilio and Salesforce
(5xx storms, 429 storms, connection resets), on SQLite and Postgres."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from connector.config import Settings, load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import CrmRef, CrmWrite, Message
from connector.engine import outbox, send
from connector.engine.context import Planner
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.ports import OutboundSms, Reconciliation, SmsPort
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultSpec, RecordErrorSpec, ServerErrors, Storm
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.sms.twilio.client import TwilioSms
from connector.store import SqlStore, crm_outbox, failure_ledger, sms_outbox
from connector.store.records import SmsOutboxRow
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)
TO = "+14155552671"
OTHER = "+14155552672"
KEY = "help:SM" + "7" * 32  # a HELP answer: the chokepoint lets it through at any hour
MAX = 3
ONCE = RetryPolicy(attempts=1, max_total_s=5, base_s=0.01, max_wait_s=0.01)


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class SendCtx:
    """What `send.run` reads of an engine context."""

    store: SqlStore
    sms: SmsPort
    clock: FrozenClock
    worker_id: str = "w1"
    planner: Planner | None = None
    settings: Settings = field(default_factory=lambda: Settings(max_attempts_sms=MAX))

    def woke(self, step: str) -> None:
        return None


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("twilio", "salesforce"), webhook_base_url="http://127.0.0.1:9") as sb:
        yield sb
        gc.collect()  # caught exceptions' tracebacks may still pin client connections


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    sandbox.state.faults.clear()
    sandbox.state.stats.reset()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    return sandbox


def _twilio(sb: Sandbox) -> TwilioSms:
    c = sb.credentials
    return TwilioSms(
        account_sid=c.twilio_account_sid,
        auth_token=c.twilio_auth_token,
        base_url=sb.urls["twilio"],
        from_=c.twilio_from,
        public_base_url="https://sms.example.com",
        timeout=(2.0, 2.0),
        policy=ONCE,
    )


def _posts(sb: Sandbox) -> int:
    calls: dict[str, int] = sb.state.stats.snapshot()["twilio"]["calls_by_endpoint"]
    return sum(n for k, n in calls.items() if k.startswith("POST ") and k.endswith("Messages.json"))


def _text(store: SqlStore) -> SmsOutboxRow:
    with store.begin() as conn:
        row = sms_outbox.by_key(conn, KEY)
    assert row is not None
    return row


def _rounds(ctx: SendCtx, n: int) -> list[send.SendReport]:
    """`n` send passes, an hour apart (past any back-off)."""
    reports = []
    for _ in range(n):
        reports.append(send.run(ctx))
        ctx.clock.at += timedelta(hours=1)
    return reports


@pytest.fixture
def ctx(sb: Sandbox, store: SqlStore) -> SendCtx:
    with store.begin() as conn:
        sms_outbox.enqueue(conn, KEY, to=TO, body="Reply STOP to opt out", send_at=T0, now=T0)
    return SendCtx(store, _twilio(sb), FrozenClock(T0))


def test_a_text_failing_every_time_is_dead_after_the_maximum_and_never_sent(
    sb: Sandbox, ctx: SendCtx
) -> None:
    sb.state.faults.set("twilio", FaultSpec(server_errors=ServerErrors(count=100, status=503)))
    with capture_logs() as logs:
        reports = _rounds(ctx, MAX + 2)
    assert [(r.claimed, r.retried, r.dead) for r in reports] == [
        (1, 1, 0),
        (1, 1, 0),
        (1, 0, 1),
        (0, 0, 0),
        (0, 0, 0),
    ]
    row = _text(ctx.store)
    assert (row.state, row.attempts) == ("dead", MAX)
    assert row.last_error is not None
    assert row.last_error.startswith("TwilioServerError: Twilio 503")
    assert TO not in row.last_error  # masked
    dead = [e for e in logs if e["event"] == "send.dead_lettered"]
    assert [(e["key"], e["attempts"], e["why"], e["error"]) for e in dead] == [
        (KEY, MAX, "exhausted", "TwilioServerError")
    ]
    with ctx.store.begin() as conn:
        assert failure_ledger.get_open(conn, "sms", KEY) is not None

    sb.state.faults.clear()  # the provider recovers: a dead text still never goes out
    assert _rounds(ctx, 2)[-1].claimed == 0
    assert _posts(sb) == MAX
    assert sb.emulators["twilio"].find("Messages", "to", TO) == []


def test_a_throttled_text_keeps_its_attempts(sb: Sandbox, ctx: SendCtx) -> None:
    sb.state.faults.set("twilio", FaultSpec(throttle=Storm(count=100, retry_after=0)))
    reports = _rounds(ctx, MAX + 2)
    assert all((r.claimed, r.retried, r.dead) == (1, 1, 0) for r in reports)
    row = _text(ctx.store)
    assert (row.state, row.attempts) == ("pending", 0)
    sb.state.faults.clear()
    assert send.run(ctx).sent == 1


def test_an_ambiguous_text_is_reconciled_a_bounded_number_of_times(
    sb: Sandbox, ctx: SendCtx
) -> None:
    sb.state.faults.set("twilio", FaultSpec(resets=100))  # every call: reset, no answer
    reports = _rounds(ctx, MAX + 2)
    assert [(r.ambiguous, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    row = _text(ctx.store)
    assert (row.state, row.attempts) == ("dead", MAX)
    assert row.last_error is not None
    assert row.last_error.startswith("possibly sent, never re-sent: ")
    sb.state.faults.clear()
    assert _rounds(ctx, 2)[-1].claimed == 0
    assert _posts(sb) == 1  # the one POST whose answer was lost; never re-POSTed


class Unreadable:
    """The real client, except that Twilio's answer for one recipient cannot be read."""

    def __init__(self, real: TwilioSms, to: str) -> None:
        self.real, self.to = real, to

    def send(self, sms: OutboundSms) -> Message:
        message = self.real.send(sms)
        if sms.to == self.to:
            raise ValueError("unreadable answer from the provider")
        return message

    def find_send(
        self, sms: OutboundSms, since: datetime, *, exclude_sids: Iterable[str] = ()
    ) -> Message | None:
        return self.real.find_send(sms, since, exclude_sids=exclude_sids)

    def reconcile(self, since: datetime) -> Reconciliation:
        return self.real.reconcile(since)


def _other(store: SqlStore) -> None:
    key = "help:SM" + "8" * 32
    with store.begin() as conn:
        sms_outbox.enqueue(conn, key, to=OTHER, body="See you then", send_at=T0, now=T0)


def test_a_text_the_provider_refuses_is_dead_at_once_and_the_next_goes(
    sb: Sandbox, store: SqlStore
) -> None:
    # a refusal about the account, not the recipient (an over-long body never gets this
    # far: the chokepoint blocks it as body_too_long before the provider)
    refusal = RecordErrorSpec(
        code="21408", message="Permission to send an SMS has not been enabled"
    )
    sb.state.faults.set("twilio", FaultSpec(record_errors={TO: refusal}))
    with store.begin() as conn:
        sms_outbox.enqueue(conn, KEY, to=TO, body="Hi", send_at=T0, now=T0)
    _other(store)
    ctx = SendCtx(store, _twilio(sb), FrozenClock(T0))
    report = send.run(ctx)
    assert (report.claimed, report.sent, report.dead) == (2, 1, 1)
    row = _text(store)
    assert (row.state, row.attempts) == ("dead", 1)
    with store.begin() as conn:
        entry = failure_ledger.get_open(conn, "sms", KEY)
    assert entry is not None
    assert entry.reason_code == "21408"
    assert entry.message.startswith("dead letter (permanent, 1 attempts): ")


def test_an_unexpected_error_after_the_send_is_dead_and_never_resent(
    sb: Sandbox, ctx: SendCtx
) -> None:
    _other(ctx.store)
    assert isinstance(ctx.sms, TwilioSms)
    ctx.sms = Unreadable(ctx.sms, TO)
    with capture_logs() as logs:
        reports = _rounds(ctx, 3)
    assert [(r.claimed, r.sent, r.dead) for r in reports] == [(2, 1, 1), (0, 0, 0), (0, 0, 0)]
    row = _text(ctx.store)
    assert row.state == "dead"
    assert row.last_error == (
        "possibly sent, never re-sent: ValueError: unreadable answer from the provider"
    )
    assert [e["event"] for e in logs if "dead" in e["event"] or "failed" in e["event"]] == [
        "send.row_failed",
        "send.dead_lettered",
    ]
    assert _posts(sb) == 2


# --- the CRM outbox --------------------------------------------------------------------


def _activity(target: CrmRef, n: int) -> CrmWrite:
    sid = f"SM{n:032x}"
    fields: dict[str, Any] = {
        "message_sid": sid,
        "direction": "inbound",
        "body": f"reply {n}",
        "at": T0,
        "status": "received",
    }
    return CrmWrite("activity", f"sms:{sid}", target, fields)


def test_a_crm_batch_failing_every_time_is_dead_after_the_maximum(
    sb: Sandbox, store: SqlStore
) -> None:
    emulator = cast("SalesforceEmulator", sb.emulators["salesforce"])
    emulator.seed(generate(10, seed=5))
    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    crm = SalesforceCrm.from_settings(sandbox_settings(sb), mapping, policy=ONCE)
    targets = [s.ref for b in crm.pull(None) for s in b.contacts][:2]  # logged in
    writes = [_activity(t, n) for n, t in enumerate(targets)]
    clock = FrozenClock(T0)
    with store.begin() as conn:
        for write in writes:
            crm_outbox.enqueue(conn, write, T0)
    sb.state.faults.set("salesforce", FaultSpec(server_errors=ServerErrors(count=1000)))
    writeback = Writeback(store, crm, clock, "salesforce", "w1", WritebackPolicy(max_attempts=MAX))
    reports = []
    with capture_logs() as logs:
        for _ in range(MAX + 1):
            reports.append(writeback.drain())
            clock.at += timedelta(hours=2)
    assert [(r.claimed, r.retrying, r.dead) for r in reports] == [
        (2, 2, 0),
        (2, 2, 0),
        (2, 0, 2),
        (0, 0, 0),
    ]
    dead = [e for e in logs if e["event"] == "writeback.dead_lettered"]
    assert sorted(e["key"] for e in dead) == sorted(w.external_id for w in writes)
    assert {(e["attempts"], e["why"]) for e in dead} == {(MAX, "exhausted")}
    with store.begin() as conn:
        assert crm_outbox.counts(conn) == {"dead": 2}
        assert all(failure_ledger.get_open(conn, "crm", w.external_id) for w in writes)

    sb.state.faults.clear()
    assert writeback.drain().claimed == 0  # never written once given up
    assert emulator.find("Task", "SMS_Message_Id__c", writes[0].external_id) == []

    # new content for the same record (a delivery status) is a new write with its own tries
    update = replace(writes[0], fields={**writes[0].fields, "status": "delivered"})
    with store.begin() as conn:
        assert outbox.put(conn, update, clock.at)
    assert writeback.drain().written == 1
    assert len(emulator.find("Task", "SMS_Message_Id__c", writes[0].external_id)) == 1
    with store.begin() as conn:
        assert failure_ledger.get_open(conn, "crm", writes[0].external_id) is None
        assert crm_outbox.counts(conn) == {"dead": 1, "done": 1}
