"""Alerts to a webhook (SMSYNC_ALERT_WEBHOOK_URL): Slack-compatible (`{"text": ...}`) or
plain JSON (SMSYNC_ALERT_WEBHOOK_FORMAT), from the `alerts` job on the leading replica.

Each condition alerts at most once per window (SMSYNC_ALERT_WINDOW_S): the alert is first
recorded in `alert_log` under (condition, window start), a unique key, so a restart or a
second replica never sends it twice. Delivery goes through the retry factory
(connector/retry.py): a receiver that is down, answers 5xx or 429 is tried again within
the budget; an alert still undelivered then stays in `alert_log` and is sent at the next
run, so none is lost. Bodies are built from counts and thresholds only and pass through
`connector.logs.scrub` as well: no phone number or secret leaves in an alert."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
import sqlalchemy as sa
import structlog
from tenacity import sleep as default_sleep

from connector.config import Settings
from connector.errors import RetriableError
from connector.failures import describe
from connector.logs import scrub
from connector.ops.alert_conditions import Alert, Limits, evaluate
from connector.ports import Store
from connector.retry import RetryPolicy, parse_retry_after, retrying
from connector.store.dialect import insert_if_absent
from connector.store.tables import alert_log

log = structlog.get_logger(__name__)

Format = Literal["slack", "json"]
POLICY = RetryPolicy(attempts=6, max_total_s=60.0, base_s=1.0, max_wait_s=15.0)


class RefusedError(Exception):
    """The receiver answered a 4xx other than 429: retrying now will not help."""


def window_start(now: datetime, window_s: float) -> datetime:
    epoch = now.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(epoch - epoch % window_s, tz=UTC)


def body_of(alert: Alert, fmt: Format, now: datetime, window: datetime) -> dict[str, Any]:
    plain = {
        "source": "smsync",
        "condition": alert.condition,
        "summary": alert.summary,
        "value": alert.value,
        "threshold": alert.threshold,
        "details": alert.details,
        "window_start": window.isoformat(),
        "at": now.isoformat(),
    }
    if fmt == "slack":
        return scrub({"text": f":rotating_light: smsync: {alert.summary}", **plain})  # type: ignore[no-any-return]
    return scrub(plain)  # type: ignore[no-any-return]


@dataclass
class Webhook:
    url: str
    timeout_s: float = 10.0
    verify: str | bool = True
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # the CA and proxies are ours, not the environment's

    def post(self, body: dict[str, Any]) -> None:
        try:
            reply = self.session.post(
                self.url, json=body, timeout=self.timeout_s, verify=self.verify
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetriableError(f"alert webhook unreachable: {type(exc).__name__}") from None
        if reply.status_code == 429 or reply.status_code >= 500:
            raise RetriableError(
                f"alert webhook answered {reply.status_code}",
                retry_after=parse_retry_after(reply.headers.get("Retry-After")),
            )
        if reply.status_code >= 400:
            raise RefusedError(f"alert webhook refused the alert: HTTP {reply.status_code}")


@dataclass
class Alerter:
    store: Store
    limits: Limits
    webhook: Webhook | None
    fmt: Format = "json"
    policy: RetryPolicy = POLICY
    sleep: Callable[[float], Any] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self) -> dict[str, int]:
        """Evaluate, record the new alerts, deliver every undelivered one of this window."""
        now = self.clock()
        window = window_start(now, self.limits.window_s)
        raised = 0
        with self.store.begin() as conn:
            for alert in evaluate(conn, now, self.limits):
                values = {
                    "condition": alert.condition,
                    "window_start": window,
                    "body": body_of(alert, self.fmt, now, window),
                    "created_at": now,
                    "attempts": 0,
                }
                if insert_if_absent(conn, alert_log, values, ["condition", "window_start"]):
                    raised += 1
                    log.warning("alert.raised", condition=alert.condition, summary=alert.summary)
        delivered = self.deliver(now)
        return {"raised": raised, "delivered": delivered}

    def deliver(self, now: datetime) -> int:
        if self.webhook is None:
            return 0
        a = alert_log.c
        oldest = now - timedelta(days=1)  # a day-old alert is history, not news
        with self.store.begin() as conn:
            waiting = conn.execute(
                sa.select(a.id, a.condition, a.body)
                .where(a.delivered_at.is_(None), a.window_start >= oldest)
                .order_by(a.id)
            ).all()
        sent = 0
        for row in waiting:
            error: str | None = None
            tries = 0
            try:
                pause = self.sleep or default_sleep
                for attempt in retrying("alerts.webhook", self.policy, sleep=pause):
                    with attempt:
                        tries += 1
                        self.webhook.post(row.body)
            except (RetriableError, RefusedError) as exc:
                error = describe(exc)
                log.warning("alert.undelivered", condition=row.condition, error=error)
            with self.store.begin() as conn:
                conn.execute(
                    sa.update(alert_log)
                    .where(a.id == row.id)
                    .values(
                        attempts=a.attempts + tries,
                        last_error=error,
                        delivered_at=None if error else self.clock(),
                    )
                )
            sent += error is None
        return sent


def alerter_from(store: Store, settings: Settings) -> Alerter:
    """The alerter the `alerts` job runs, from the SMSYNC_ALERT_* settings."""
    limits = Limits(
        job_failures=settings.alert_job_failures,
        writeback_lag_s=settings.alert_writeback_lag_s,
        rejection_pct=settings.alert_rejection_pct,
        api_budget_pct=settings.alert_api_budget_pct,
        optout_spike=settings.alert_optout_spike,
        window_s=settings.alert_window_s,
    )
    url = settings.alert_webhook_url
    webhook = None
    if url is not None:
        ca = settings.ca_file
        webhook = Webhook(url.get_secret_value(), verify=str(ca) if ca else True)
    return Alerter(store, limits, webhook, settings.alert_webhook_format)


def alerts_job(store: Store, settings: Settings) -> Callable[[threading.Event], None]:
    alerter = alerter_from(store, settings)

    def run(stopping: threading.Event) -> None:
        if not stopping.is_set():
            alerter.run()

    return run
