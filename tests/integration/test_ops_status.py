"""`smsync status`: exact on a known state (SQLite and Postgres), job runs recorded through
the real job registry, and the exit code a probe reads."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from connector.config import Settings
from connector.domain.model import CrmRef, CrmWrite
from connector.metrics import CRM_API_USAGE
from connector.ops.recorder import recorded
from connector.ops.status import Thresholds, build
from connector.ports import Cursor
from connector.runtime.registry import build_jobs
from connector.runtime.wiring import Components
from connector.store import SqlStore, crm_outbox, cursors, failure_ledger, inbox, sms_outbox
from tests.cli_kit import smsync
from tests.migrated import upgrade

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _parts(**parts: Any) -> Components:
    """The few parts the job registry reads, without building adapters."""
    return cast("Components", SimpleNamespace(**parts))


class Steps:
    """A clock that moves `step_s` each time it is read."""

    def __init__(self, start: datetime, step_s: float) -> None:
        self.t = start
        self.step = timedelta(seconds=step_s)

    def __call__(self) -> datetime:
        now = self.t
        self.t += self.step
        return now


def write(n: int) -> CrmWrite:
    return CrmWrite("activity", f"sms:SM{n}", CrmRef("Contact", f"003{n}"), {"body": "hi"})


def fail(_stop: threading.Event) -> None:
    raise RuntimeError("CRM down for +14155550123")


def ok(_stop: threading.Event) -> None:
    """A run that succeeds."""


def known_state(store: SqlStore) -> None:
    with store.begin() as conn:
        crm_outbox.enqueue(conn, write(1), NOW - timedelta(seconds=1200))
        crm_outbox.enqueue(conn, write(2), NOW - timedelta(seconds=30))
        crm_outbox.enqueue(conn, write(3), NOW - timedelta(seconds=5000))
        dead_row = crm_outbox.get(conn, "sms:SM3")
        assert dead_row is not None
        crm_outbox.bury(conn, dead_row.id, "refused", NOW)
        failure_ledger.record_failure(
            conn, "crm", "sms:SM3", reason_code="INVALID_FIELD", message="x", now=NOW
        )
        failure_ledger.record_failure(
            conn, "crm", "sms:SM1", reason_code="UNABLE_TO_LOCK_ROW", message="x", now=NOW
        )
        failure_ledger.record_failure(
            conn, "inbox", "SMa", reason_code="DataError", message="x", now=NOW
        )
        sms_outbox.enqueue(
            conn, "k1", to="+14155550123", body="hello", send_at=NOW, now=NOW, play="p"
        )
        inbox.insert_if_new(conn, "SMin1", "inbound", {"Body": "hi"}, NOW - timedelta(seconds=90))
        inbox.insert_if_new(conn, "SMst1", "status", {}, NOW - timedelta(seconds=600))
        cursors.set_(conn, "Contact", Cursor(NOW, "003x"), NOW - timedelta(seconds=75))
    pull = recorded(
        "pull",
        ok,
        store=store,
        worker_id="replica-a:11",
        crm="salesforce",
        clock=Steps(NOW - timedelta(seconds=60), 2.5),
    )
    pull(threading.Event())
    CRM_API_USAGE.labels("salesforce").set(0.8512)
    writeback = recorded(
        "writeback",
        fail,
        store=store,
        worker_id="replica-b:7",
        crm="salesforce",
        clock=Steps(NOW - timedelta(seconds=50), 1.0),
    )
    for _ in range(3):
        with pytest.raises(RuntimeError):
            writeback(threading.Event())


def test_status_is_exact_on_a_known_state(store: SqlStore) -> None:
    known_state(store)
    with store.begin() as conn:
        found = build(
            conn, NOW, Thresholds(900, 3, 90), jobs=("pull", "writeback", "send"), host="replica-a"
        )
    held = None if store.engine.dialect.name == "sqlite" else False
    assert found == {
        "at": "2026-12-02T12:00:00+00:00",
        "healthy": False,
        "problems": [
            "writeback lag 1200s is over 900s (SMSYNC_ALERT_WRITEBACK_LAG_S)",
            "job writeback failed 3 times in a row (SMSYNC_ALERT_JOB_FAILURES)",
        ],
        "jobs": {
            "pull": {
                "last_run": "2026-12-02T11:59:02.500000+00:00",
                "duration_s": 2.5,
                "outcome": "ok",
                "error": None,
                "failures_in_a_row": 0,
                "leader": "replica-a:11",
                "leads_here": True,
                "lease_held": held,
            },
            "writeback": {
                "last_run": "2026-12-02T11:59:15+00:00",
                "duration_s": 1.0,
                "outcome": "error",
                "error": "RuntimeError: CRM down for +1415***0123",
                "failures_in_a_row": 3,
                "leader": "replica-b:7",
                "leads_here": False,
                "lease_held": held,
            },
            "send": {
                "last_run": None,
                "duration_s": None,
                "outcome": None,
                "error": None,
                "failures_in_a_row": 0,
                "leader": None,
                "leads_here": False,
                "lease_held": held,
            },
        },
        "lag": {"writeback_s": 1200.0, "inbound_s": 90.0, "cursors_s": {"Contact": 75.0}},
        "queues": {
            "crm": {"dead": 1, "pending": 2},
            "sms": {"pending": 1},
            "inbox": {"dead": 0, "processed": 0, "waiting": 2},
        },
        "retry_ledger": {
            "crm": {"INVALID_FIELD": 1, "UNABLE_TO_LOCK_ROW": 1},
            "inbox": {"DataError": 1},
        },
        "crm_api_budget": {"used_pct": 85.12, "reported_at": "2026-12-02T11:59:15+00:00"},
    }
    with store.begin() as conn:
        stricter = build(conn, NOW, Thresholds(3600, 4, 85), jobs=(), host="replica-a")
    assert stricter["problems"] == [
        "CRM API budget 85.12% used today, over 85% (SMSYNC_ALERT_API_BUDGET_PCT)"
    ]
    with store.begin() as conn:
        fine = build(conn, NOW, Thresholds(3600, 4, 90), jobs=(), host="replica-a")
    assert (fine["healthy"], fine["problems"]) == (True, [])


def test_the_job_registry_records_every_run(store: SqlStore) -> None:
    ctx = _parts(
        settings=Settings(),
        store=store,
        mapping=cast("Any", None),
        crm=cast("Any", None),
        sms=cast("Any", None),
        clock=type("C", (), {"now": staticmethod(lambda: NOW)})(),
        worker_id="host-1:42",
        wake=lambda _name: False,
    )
    jobs, missing = build_jobs(ctx, {"pull": lambda _jc: ok, "send": lambda _jc: fail, "x": None})
    assert missing == ["x"]
    for job in jobs:
        try:
            job.fn(threading.Event())
        except RuntimeError:
            assert job.name == "send"
    with store.begin() as conn:
        view = build(conn, NOW, Thresholds(), jobs=("pull", "send"), host="host-1")["jobs"]
    assert (view["pull"]["outcome"], view["pull"]["leader"], view["pull"]["leads_here"]) == (
        "ok",
        "host-1:42",
        True,
    )
    assert (view["send"]["outcome"], view["send"]["failures_in_a_row"]) == ("error", 1)


def test_status_cli_exits_1_over_the_writeback_lag_and_0_under_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smsync.db'}"
    upgrade(url)
    store = SqlStore.from_url(url)
    try:
        with store.begin() as conn:
            crm_outbox.enqueue(conn, write(9), datetime.now(UTC) - timedelta(seconds=600))
    finally:
        store.close()
    over = smsync(
        "status", "--json", env={"SMSYNC_DATABASE_URL": url, "SMSYNC_ALERT_WRITEBACK_LAG_S": "300"}
    )
    assert over.returncode == 1, over.stderr
    body = json.loads(over.stdout)
    assert body["healthy"] is False
    assert 600 <= body["lag"]["writeback_s"] < 900
    assert body["queues"]["crm"] == {"pending": 1}
    under = smsync(
        "status", env={"SMSYNC_DATABASE_URL": url, "SMSYNC_ALERT_WRITEBACK_LAG_S": "3600"}
    )
    assert under.returncode == 0, under.stderr
    assert under.stdout.startswith("healthy at ")
    missing = smsync("status", env={"SMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'no.db'}"})
    assert missing.returncode == 2
    assert "smsync db upgrade" in missing.stderr
    assert not (tmp_path / "no.db").exists()
