"""A status event reaches the engine normalised (`connector/ports.py`, `StatusUpdate`): the
ingest step decides on its `SmsFailure`, never on the provider's code, which it keeps as
data (the activity's status, the consent evidence). Codes below are deliberately not
Twilio's meaning for them, so a comparison of codes anywhere in the engine would show.
SQLite and Postgres, through the real ingest step and store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.config import Settings, load_mapping
from connector.domain.model import (
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
    CrmWrite,
    Direction,
    Message,
    MessageStatus,
    WriteResult,
)
from connector.engine import ingest
from connector.engine.context import EngineContext
from connector.errors import SmsFailure
from connector.ports import Cursor, Owner, PullBatch, StatusUpdate
from connector.runtime.webhooks import store_status
from connector.store import SqlStore, consent, contacts, crm_outbox, messages

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
PHONE = "+14155552671"
REF = CrmRef("Contact", "003000000000001")
SID = "SM" + "a" * 32


class NoCrm:
    """Ingesting a status never asks the CRM anything."""

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        raise AssertionError("not part of ingest")

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        raise AssertionError("a status names no unknown sender")

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        raise AssertionError("not part of ingest")

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        raise AssertionError("not part of ingest")

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        return {}

    def probe(self) -> None:
        raise AssertionError("not part of ingest")


class FrozenClock:
    def now(self) -> datetime:
        return T0


@pytest.fixture
def ctx(store: SqlStore) -> EngineContext:
    with store.begin() as conn:
        contacts.upsert(conn, ContactState(ref=REF, phone=PHONE), T0)
        sent = Message(
            sid=SID,
            direction=Direction.OUTBOUND,
            from_="+15005550006",
            to=PHONE,
            body="Hi",
            status=MessageStatus.SENT,
            at=T0,
        )
        messages.upsert(conn, sent, T0, contact=REF)
    return EngineContext(
        settings=Settings(),
        mapping=load_mapping(ROOT / "mappings" / "salesforce.yaml"),
        store=store,
        crm=NoCrm(),
        sms=None,
        clock=FrozenClock(),
        worker_id="w1",
    )


def _deliver(ctx: EngineContext, code: int, failure: SmsFailure) -> None:
    """The status as the webhook intake stores it, then one ingest pass."""
    event = StatusUpdate(
        sid=SID, status=MessageStatus.UNDELIVERED, at=T0, error_code=code, failure=failure
    )
    with ctx.store.begin() as conn:
        assert store_status(conn, event, T0)
    report = ingest.run(ctx)
    assert (report.processed, report.statuses) == (1, 1)


def _phone_status_write(ctx: EngineContext) -> CrmWrite | None:
    with ctx.store.begin() as conn:
        row = crm_outbox.get(conn, f"fields:{SID}:phone:{REF.object_type}/{REF.id}")
    return None if row is None else row.write


def test_an_opted_out_failure_enters_the_consent_ledger_whatever_its_code(
    ctx: EngineContext,
) -> None:
    _deliver(ctx, 30003, SmsFailure.OPTED_OUT)  # Twilio's 30003 is "unreachable"
    with ctx.store.begin() as conn:
        history = consent.history(conn, PHONE)
    assert [(e.status, e.source, e.evidence_sid) for e in history] == [
        (ConsentStatus.OPTED_OUT, ConsentSource.PROVIDER_BLOCK, SID)
    ]
    assert history[0].evidence_text == "provider error 30003"  # the code, kept as data
    assert _phone_status_write(ctx) is None


def test_a_dead_number_failure_marks_the_number_invalid_whatever_its_code(
    ctx: EngineContext,
) -> None:
    _deliver(ctx, 12345, SmsFailure.LANDLINE)
    write = _phone_status_write(ctx)
    assert write is not None
    assert (write.target, dict(write.fields)) == (REF, {"phone_status": "invalid"})
    with ctx.store.begin() as conn:
        assert consent.history(conn, PHONE) == []
        activity = crm_outbox.get(conn, f"sms:{SID}")
    assert activity is not None
    assert activity.write.fields["status"] == "undelivered (12345)"  # the code, shown


def test_a_failure_of_this_text_only_changes_nothing_about_the_number(
    ctx: EngineContext,
) -> None:
    _deliver(ctx, 21610, SmsFailure.OTHER)  # Twilio's 21610 is an opt-out: not read here
    assert _phone_status_write(ctx) is None
    with ctx.store.begin() as conn:
        assert consent.history(conn, PHONE) == []
