"""`smsync failures` over the real Writeback engine and the Salesforce sandbox's faults: a
field that rejects a value, a 429 storm (Salesforce answers REQUEST_LIMIT_EXCEEDED), a
deleted record. The CRM's own codes are listed; once the faults are gone, `retry --all`
writes each failure exactly once (the sandbox listed by external id); `drop` records who
and why."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from connector.config import load_mapping
from connector.crm.salesforce.client import SalesforceCrm
from connector.domain.model import CrmRef, CrmWrite
from connector.engine.writeback import Writeback
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultSpec, RecordErrorSpec, Storm
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import SqlStore, crm_outbox, failure_ledger
from connector.store.tables import ops_actions
from tests.cli_kit import smsync
from tests.migrated import upgrade
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml")
FAST = RetryPolicy(attempts=3, max_total_s=30, base_s=0.01, max_wait_s=0.02)
PHONE = "+14155550123"


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        yield sb
        gc.collect()


@pytest.fixture
def emulator(sandbox: Sandbox) -> SalesforceEmulator:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    sandbox.state.faults.clear()
    emu.reset()
    emu.seed(generate(20, seed=7))
    return emu


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, SqlStore]]:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    store = SqlStore.from_url(url)
    yield url, store
    store.close()


def activity(target: CrmRef, n: int) -> CrmWrite:
    sid = f"SM{n:032x}"
    return CrmWrite(
        "activity",
        f"sms:{sid}",
        target,
        {
            "message_sid": sid,
            "direction": "inbound",
            "body": f"reply {n}: call me on {PHONE}",
            "at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
            "status": "received",
        },
    )


def cli(url: str, *args: str) -> Any:
    result = smsync(*args, env={"SMSYNC_DATABASE_URL": url, "USER": "ops-tester"})
    assert result.returncode == 0, result.stderr
    return result


def listed(url: str, *args: str) -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", json.loads(cli(url, "failures", "--json", *args).stdout))


def test_faults_listed_with_crm_codes_then_retried_exactly_once_and_dropped_with_reason(
    sandbox: Sandbox, emulator: SalesforceEmulator, db: tuple[str, SqlStore]
) -> None:
    url, store = db
    crm = SalesforceCrm.from_settings(
        sandbox_settings(sandbox), MAPPING, policy=FAST, sleep=lambda _s: None
    )
    targets = [s.ref for b in crm.pull(None) for s in b.contacts]
    gone = targets[5]
    emulator.writer.delete(emulator.schema[gone.object_type], gone.id)
    ok, refused, orphan = activity(targets[0], 1), activity(targets[1], 2), activity(gone, 3)
    sandbox.state.faults.set(
        "salesforce",
        FaultSpec(
            record_errors={
                refused.external_id: RecordErrorSpec(
                    code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="Body must not be empty"
                )
            }
        ),
    )
    clock = Clock()
    with store.begin() as conn:
        for w in (ok, refused, orphan):
            crm_outbox.enqueue(conn, w, clock.now())
    writeback = Writeback(store, crm, clock, "salesforce", "w1")
    first = writeback.drain()
    assert (first.written, first.dead, first.orphaned) == (1, 1, 1)

    # a 429 storm on the next batch: Salesforce throttles with REQUEST_LIMIT_EXCEEDED
    stormed = [activity(targets[2], 4), activity(targets[3], 5)]
    sandbox.state.faults.set("salesforce", FaultSpec(throttle=Storm(count=50)))
    with store.begin() as conn:
        for w in stormed:
            crm_outbox.enqueue(conn, w, clock.now())
    second = writeback.drain()
    assert (second.written, second.retrying) == (0, 2)

    found = {f["key"]: f for f in listed(url)}
    assert set(found) == {
        refused.external_id,
        orphan.external_id,
        *(w.external_id for w in stormed),
    }
    assert found[refused.external_id]["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "Body must not be empty" in found[refused.external_id]["message"]
    assert found[refused.external_id]["state"] == "dead"
    assert found[orphan.external_id]["code"] == "INVALID_CROSS_REFERENCE_KEY"
    assert found[orphan.external_id]["state"] == "failed"
    for w in stormed:
        f = found[w.external_id]
        assert (f["code"], f["state"]) == ("REQUEST_LIMIT_EXCEEDED", "pending")
        assert f["next_retry"] is not None
    refused_row = found[refused.external_id]
    assert refused_row["record"] == f"{targets[1].object_type}/{targets[1].id}"
    assert refused_row["attempts"] == 1
    body = refused_row["payload"]["fields"]["body"]
    assert PHONE not in json.dumps(list(found.values()))
    assert "+1415***0123" in body
    assert [f["key"] for f in listed(url, "--reason", "REQUEST_LIMIT_EXCEEDED")] == [
        w.external_id for w in stormed
    ]
    assert listed(url, "--since", "2099-01-01") == []
    text = cli(url, "failures").stdout
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in text
    assert PHONE not in text

    # the faults go: the field accepts the value, the storm ends, the record is restored
    sandbox.state.faults.clear()
    emulator.writer.undelete(emulator.schema[gone.object_type], gone.id)
    out = cli(url, "failures", "retry", "--all").stdout
    assert "4 requeued by ops-tester" in out
    again = writeback.drain()
    assert (again.claimed, again.written) == (4, 4)
    assert writeback.drain().claimed == 0
    for w in (ok, refused, orphan, *stormed):
        assert len(emulator.find("Task", "SMS_Message_Id__c", w.external_id)) == 1, w.external_id
    assert listed(url) == []
    assert "0 requeued" in cli(url, "failures", "retry", "--all").stdout

    # a fourth write the CRM refuses for good: dropped, with who and why
    bad = activity(targets[4], 6)
    sandbox.state.faults.set(
        "salesforce",
        FaultSpec(record_errors={bad.external_id: RecordErrorSpec(code="INVALID_FIELD")}),
    )
    with store.begin() as conn:
        crm_outbox.enqueue(conn, bad, clock.now())
    assert writeback.drain().dead == 1
    (dead,) = listed(url)
    assert dead["code"] == "INVALID_FIELD"
    dropped = cli(url, "failures", "drop", dead["id"], "--why", "field retired", "--by", "ana")
    assert "1 dropped by ana: field retired" in dropped.stdout
    assert listed(url) == []
    with store.begin() as conn:
        row = crm_outbox.get(conn, bad.external_id)
        assert row is not None
        assert row.state == "dead"
        assert failure_ledger.get_open(conn, "crm", bad.external_id) is None
        audit = conn.execute(sa.select(ops_actions).order_by(ops_actions.c.id)).all()
    assert [(a.action, a.key, a.by, a.why) for a in audit][-1] == (
        "drop",
        bad.external_id,
        "ana",
        "field retired",
    )
    assert sum(a.action == "retry" for a in audit) == 4
    assert emulator.find("Task", "SMS_Message_Id__c", bad.external_id) == []


def test_read_and_act_refuse_a_missing_database_and_create_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nothing" / "smsync.db"
    env = {"SMSYNC_DATABASE_URL": f"sqlite:///{db}"}
    for args in (
        ("failures",),
        ("failures", "retry", "--all"),
        ("failures", "drop", "crm-1", "--why", "x"),
    ):
        result = smsync(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "smsync db upgrade" in result.stderr
        assert "Traceback" not in result.stderr
    assert not db.parent.exists()


def test_bad_ids_and_arguments_exit_2_and_change_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    env = {"SMSYNC_DATABASE_URL": url}
    for args, says in (
        (("failures", "retry", "12"), "QUEUE-NUMBER"),
        (("failures", "retry", "crm-9"), "not a current failure"),
        (("failures", "retry"), "ids or --all"),
        (("failures", "retry", "crm-1", "--reason", "X"), "--reason goes with --all"),
        (("failures", "drop", "crm-1", "--why", " "), "needs a reason"),
        (("failures", "--since", "yesterday"), "not an ISO date"),
    ):
        result = smsync(*args, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
