"""The store's bookkeeping tables beside the engine's: the CRM id map of created records,
the rotated OAuth tokens, `POST /api/send` idempotency, operators' actions, job runs and
alerts (reached as ``tables.<name>``, see `tables.py`)."""

from __future__ import annotations

import sqlalchemy as sa

from connector.store.coltypes import UtcDateTime
from connector.store.table_base import metadata

# External id -> CRM id, for objects written by create rather than upsert (HubSpot
# engagements without a unique property). An empty crm_id means "create sent, outcome
# unknown": the adapter searches before it would ever create again.
crm_id_map = sa.Table(
    "crm_id_map",
    metadata,
    sa.Column("external_id", sa.String(191), primary_key=True),
    sa.Column("crm_id", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The rotated OAuth pair of a provider (HubSpot refresh tokens rotate on every refresh:
# losing the new one locks the connector out).
oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("access_token", sa.Text, nullable=False),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# `POST /api/send` requests by the caller's idempotency key: the first request's answer,
# so every repeat of the key (at once or later, on any replica) gets that answer rather
# than a second decision. `settled_at` is NULL while the first request is still sending.
api_requests = sa.Table(
    "api_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # sha256 of what was asked
    sa.Column("outbox_key", sa.String(191), nullable=True),  # the sms_outbox row it queued
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("settled_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("idempotency_key"),
)

# What an operator did to a failure (`smsync failures retry|drop`, the admin page): the
# audit of who gave up on a write and why.
ops_actions = sa.Table(
    "ops_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("queue", sa.String(8), nullable=False),
    sa.Column("row_id", sa.Integer, nullable=False),
    sa.Column("key", sa.String(191), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("why", sa.Text, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.CheckConstraint("action IN ('retry', 'drop')", name="action"),
    sa.Index(None, "queue", "row_id"),
)

# One row per scheduled job run (`smsync status`: last run, duration, outcome, failures in
# a row).
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("worker_id", sa.String(128), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    # the share of the CRM's daily API budget used, as the CRM last reported it in the run
    sa.Column("crm_api_usage", sa.Float, nullable=True),
    sa.Index(None, "job", "finished_at"),
)

# The alerts raised (connector/ops/alerts.py): one per condition per window, the unique
# key being the dedupe across replicas and restarts; undelivered ones are sent again.
alert_log = sa.Table(
    "alert_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("condition", sa.String(191), nullable=False),
    sa.Column("window_start", UtcDateTime, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.UniqueConstraint("condition", "window_start"),
)
