"""Alerts to a local webhook receiver over real HTTP: exactly one alert per condition per
window, no phone number or secret in a body, and a receiver that is down loses no alert
(retried within the budget, then at the next run). The Prometheus rules in deploy/ only
use metrics connector.metrics defines."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.metrics import MetricWrapperBase

from connector import metrics
from connector.config import Settings
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    CrmRef,
    CrmWrite,
)
from connector.ops.alert_conditions import Limits
from connector.ops.alerts import Alerter, Webhook
from connector.ops.recorder import recorded
from connector.retry import RetryPolicy
from connector.runtime.registry import FACTORIES
from connector.runtime.wiring import Components
from connector.store import SqlStore, consent, crm_outbox
from connector.store.tables import alert_log, messages
from connector.store.tables import crm_outbox as outbox_table

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 2, 12, 10, tzinfo=UTC)


def _parts(**parts: Any) -> Components:
    """The few parts the job registry reads, without building adapters."""
    return cast("Components", SimpleNamespace(**parts))


SECRET = "T000SECRETxyz"
LIMITS = Limits(
    job_failures=3,
    writeback_lag_s=900,
    rejection_pct=20,
    api_budget_pct=80,
    optout_spike=2,
    window_s=3600,
)
FAST = RetryPolicy(attempts=4, max_total_s=30, base_s=0.01, max_wait_s=0.02)


class Receiver:
    """A tiny webhook receiver on a fixed loopback port; `start` may come late."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bodies: list[dict[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{SECRET}"

    def start(self) -> None:
        if self.server is not None:
            return
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                bodies.append(json.loads(raw))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                """quiet"""

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def fail(_stop: threading.Event) -> None:
    raise RuntimeError("CRM down")


def every_condition(store: SqlStore) -> None:
    """A job failed 3 times, an old CRM write, 3 of 10 activity writes rejected, 90% of the
    API budget, and 2 opt-outs after texts of play `renewal`."""
    job = recorded(
        "writeback",
        fail,
        store=store,
        worker_id="h:1",
        crm="salesforce",
        clock=lambda: NOW - timedelta(minutes=5),
    )
    metrics.CRM_API_USAGE.labels("salesforce").set(0.9)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            job(threading.Event())
    with store.begin() as conn:
        for n in range(11):
            w = CrmWrite(
                "activity", f"sms:SM{n}", CrmRef("Contact", "003x"), {"body": "+14155550123"}
            )
            crm_outbox.enqueue(conn, w, NOW - timedelta(seconds=2000 if n == 10 else 60))
        state = sa.case((outbox_table.c.id <= 3, "dead"), else_="done")
        conn.execute(
            sa.update(outbox_table)
            .where(outbox_table.c.id <= 10)
            .values(state=state, done_at=NOW - timedelta(minutes=1))
        )
        for i, phone in enumerate(("+14155550101", "+14155550102")):
            conn.execute(
                sa.insert(messages).values(
                    sid=f"SMout{i}",
                    direction="outbound",
                    from_number="+15550000000",
                    to_number=phone,
                    body="renew?",
                    status="delivered",
                    play="renewal",
                    num_segments=1,
                    contact_type="Lead",
                    contact_id=f"L{i}",
                    created_at=NOW - timedelta(minutes=30),
                    updated_at=NOW - timedelta(minutes=30),
                )
            )
            consent.append(
                conn,
                ConsentRecord(
                    phone,
                    ConsentStatus.OPTED_OUT,
                    ConsentScope.SENDER,
                    ConsentSource.KEYWORD,
                    NOW - timedelta(minutes=10),
                    f"SMstop{i}",
                    "STOP",
                ),
                NOW,
            )


CONDITIONS = {
    "job_failed:writeback",
    "writeback_lag",
    "rejection_rate:crm:activity",
    "api_budget",
    "optout_spike:renewal",
}


def test_one_alert_per_condition_per_window_without_numbers_or_secrets(
    store: SqlStore, receiver: Receiver
) -> None:
    every_condition(store)
    receiver.start()
    clock = [NOW]
    alerter = Alerter(store, LIMITS, Webhook(receiver.url), "slack", FAST, clock=lambda: clock[0])
    assert alerter.run() == {"raised": 5, "delivered": 5}
    assert {b["condition"] for b in receiver.bodies} == CONDITIONS
    assert len(receiver.bodies) == 5
    spike = next(b for b in receiver.bodies if b["condition"] == "optout_spike:renewal")
    assert (
        spike["text"]
        == ":rotating_light: smsync: 2 opt-outs after texts of play renewal in the window"
    )
    rejection = next(b for b in receiver.bodies if b["condition"].startswith("rejection"))
    assert (rejection["value"], rejection["details"]) == (30.0, {"rejected": 3, "finished": 10})
    raw = json.dumps(receiver.bodies)
    assert SECRET not in raw
    assert not re.search(r"\+?1?415555\d{4}", raw)
    assert metrics.OPTOUTS_IN_WINDOW.labels("renewal")._value.get() == 2

    clock[0] = NOW + timedelta(minutes=20)  # same window: nothing new, nothing re-sent
    assert alerter.run() == {"raised": 0, "delivered": 0}
    assert len(receiver.bodies) == 5
    # the next window: the conditions that still hold alert once more; the rejections and
    # opt-outs of the hour before are out of it
    clock[0] = NOW + timedelta(hours=1)
    assert alerter.run() == {"raised": 3, "delivered": 3}
    assert {b["condition"] for b in receiver.bodies[5:]} == {
        "job_failed:writeback",
        "writeback_lag",
        "api_budget",
    }
    with store.begin() as conn:
        rows = conn.execute(sa.select(alert_log)).all()
    assert len(rows) == 8
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)


def test_a_receiver_down_then_up_loses_no_alert(store: SqlStore, receiver: Receiver) -> None:
    every_condition(store)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the receiver comes back during the first wait
        sleeps.append(seconds)
        receiver.start()

    alerter = Alerter(
        store,
        LIMITS,
        Webhook(receiver.url, timeout_s=2),
        "json",
        FAST,
        sleep=sleep,
        clock=lambda: NOW,
    )
    assert alerter.run() == {"raised": 5, "delivered": 5}
    assert len(sleeps) == 1
    assert sorted(b["condition"] for b in receiver.bodies) == sorted(CONDITIONS)
    assert "text" not in receiver.bodies[0]  # plain JSON


def test_past_the_retry_budget_an_alert_waits_for_the_next_run(
    store: SqlStore, receiver: Receiver
) -> None:
    every_condition(store)
    short = RetryPolicy(attempts=2, max_total_s=5, base_s=0.01, max_wait_s=0.02)
    alerter = Alerter(
        store,
        LIMITS,
        Webhook(receiver.url, timeout_s=2),
        "json",
        short,
        clock=lambda: NOW + timedelta(minutes=1),
    )
    assert alerter.run() == {"raised": 5, "delivered": 0}
    with store.begin() as conn:
        waiting = conn.execute(sa.select(alert_log)).all()
    assert [(r.attempts, r.delivered_at) for r in waiting] == [(2, None)] * 5
    assert all("unreachable" in (r.last_error or "") for r in waiting)
    receiver.start()
    assert alerter.run() == {"raised": 0, "delivered": 5}
    assert alerter.run() == {"raised": 0, "delivered": 0}
    assert sorted(b["condition"] for b in receiver.bodies) == sorted(CONDITIONS)


def test_the_scheduled_alerts_job_sends_through_the_settings(
    store: SqlStore, receiver: Receiver
) -> None:
    receiver.start()
    metrics.CRM_API_USAGE.labels("salesforce").set(0.1)  # another test's 90% is not ours
    job = recorded("pull", fail, store=store, worker_id="h:1", crm="salesforce")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            job(threading.Event())
    settings = Settings.model_validate({"alert_webhook_url": receiver.url, "alert_job_failures": 2})
    factory = FACTORIES["alerts"]
    assert factory is not None
    ctx = _parts(
        settings=settings,
        store=store,
        mapping=cast("Any", None),
        crm=cast("Any", None),
        sms=cast("Any", None),
        clock=cast("Any", None),
        worker_id="h:1",
        wake=lambda _n: False,
    )
    factory(ctx)(threading.Event())
    assert [b["condition"] for b in receiver.bodies] == ["job_failed:pull"]


def _known_metrics() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name + s for s in ("", "_total", "_bucket", "_count", "_sum")}
    return names


def test_the_prometheus_rules_use_only_defined_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    (group,) = rules["groups"]
    names = [r["alert"] for r in group["rules"]]
    assert names == [
        "SmsyncJobFailing",
        "SmsyncWritebackLag",
        "SmsyncCrmRejectionRate",
        "SmsyncCrmApiBudget",
        "SmsyncOptOutSpike",
    ]
    for rule in group["rules"]:
        used = set(re.findall(r"\bsmsync_[a-z_]+", rule["expr"]))
        assert used, rule["alert"]
        assert used <= _known_metrics(), (rule["alert"], used - _known_metrics())
        assert rule["annotations"]["summary"]
