"""Prometheus metrics shared by adapters, engine and runtime (served at /metrics).

Defined in one module so a name is registered once, whatever imports it first."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CRM_WRITES = Counter("smsync_crm_writes_total", "CRM writes by outcome", ["crm", "kind", "outcome"])
CRM_API_CALLS = Counter("smsync_crm_api_calls_total", "CRM API calls made", ["crm"])
CRM_WRITE_STOPS = Counter(
    "smsync_crm_write_stops_total",
    "Times writeback stopped gracefully (quota share reached, limit exceeded, auth)",
    ["crm", "reason"],
)
CRM_API_USAGE = Gauge(
    "smsync_crm_api_usage_ratio", "Share of the daily CRM API allocation used", ["crm"]
)
CRM_RATE_LIMITED = Counter(
    "smsync_crm_rate_limited_total", "429s and equivalents received from the CRM", ["crm"]
)
RETRY_LEDGER_OPEN = Gauge(
    "smsync_retry_ledger_open", "Effects waiting in the retry ledger", ["effect"]
)
SMS_DECISIONS = Counter("smsync_sms_decisions_total", "Governance decisions", ["verdict", "reason"])
WEBHOOKS = Counter("smsync_webhooks_total", "Webhooks received", ["kind", "outcome"])
INTAKE_SECONDS = Histogram(
    "smsync_webhook_intake_seconds", "From request to inbox commit", ["kind"]
)
