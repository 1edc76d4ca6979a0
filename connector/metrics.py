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
CRM_WRITES_PAUSED = Gauge(
    "smsync_crm_writes_paused",
    "1 while writeback is paused after a stop (auth or quota) and probes the CRM",
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
LINK_CLICKS = Counter(
    "smsync_link_clicks_total",
    "Tracked-link requests: counted, previewer, too_fast, repeat, not_found",
    ["outcome"],
)
INTAKE_SECONDS = Histogram(
    "smsync_webhook_intake_seconds", "From request to inbox commit", ["kind"]
)

# --- the runtime's view (issue 9): the operator's dashboard ---------------------------------
SYNC_LAG = Gauge(
    "smsync_sync_lag_seconds",
    "Seconds since the pull cursor of a CRM object last advanced",
    ["cursor"],
)
OUTBOX_DEPTH = Gauge(
    "smsync_outbox_depth", "Rows waiting in an outbox (pending or claimed)", ["outbox"]
)
OUTBOX_AGE = Gauge(
    "smsync_outbox_oldest_age_seconds",
    "Age of the oldest row still waiting in an outbox (0 when empty)",
    ["outbox"],
)
INBOX_DEPTH = Gauge("smsync_inbox_depth", "Webhook and poll events not yet processed")
DEAD_LETTERS = Gauge(
    "smsync_dead_letters",
    "Inbox items, texts and CRM writes smsync gave up on, left to an operator",
    ["queue"],
)
RATE_LIMIT_WAITS = Counter(
    "smsync_rate_limit_waits_total",
    "Times a call waited because a vendor throttled us or a local limiter held it back",
    ["vendor"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "smsync_rate_limit_wait_seconds_total", "Seconds spent waiting on rate limits", ["vendor"]
)
SLA_TIMERS_OPEN = Gauge(
    "smsync_sla_timers_open", "SLA timers neither met nor breached yet", ["kind"]
)
SLA_TIMERS_BREACHED = Gauge(
    "smsync_sla_timers_breached", "SLA timers breached and not met since", ["kind"]
)
ERRORS = Counter(
    "smsync_errors_total", "Errors by where they happened and their class", ["where", "error"]
)
JOB_RUNS = Counter("smsync_job_runs_total", "Periodic job runs by outcome", ["job", "outcome"])
JOB_SECONDS = Histogram("smsync_job_seconds", "Duration of periodic job runs", ["job"])
JOB_LEADER = Gauge(
    "smsync_job_leader", "1 while this replica leads the periodic job, else 0", ["job"]
)
OPTOUTS_IN_WINDOW = Gauge(
    "smsync_alert_optouts_in_window",
    "Opt-outs in the alert window (SMSYNC_ALERT_WINDOW_S) by the play of the last text sent",
    ["play"],
)
READY = Gauge("smsync_ready", "1 when the last readiness check of this kind passed", ["check"])
