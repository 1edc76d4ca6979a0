"""The store's schema as SQLAlchemy Core tables, and its one public face: every table is
reached as ``tables.<name>`` whichever module defines it (the engine's tables here; the
operator's and the adapters' bookkeeping in `tables_ops.py`; the CRM's pipeline in
`tables_pipeline.py`; the shared `metadata` and helpers in `table_base.py`).

Migrations in ``migrations/versions`` create exactly this (a test compares the two). A
"contact ref" is the CRM object type and id as two columns, with no foreign key, so a
message or decision can be recorded before or without a ``contact_state`` row."""

from __future__ import annotations

import sqlalchemy as sa

from connector.store.coltypes import UtcDateTime
from connector.store.table_base import (
    ADDRESS,
    CRM_KINDS,
    CRM_STATES,
    EFFECTS,
    INBOX_KINDS,
    NAMING,
    SMS_STATES,
    metadata,
)
from connector.store.table_base import check_in as _in
from connector.store.table_base import ref_columns as _ref
from connector.store.tables_ops import (
    alert_log,
    api_requests,
    crm_id_map,
    job_runs,
    oauth_tokens,
    ops_actions,
)
from connector.store.tables_pipeline import (
    opportunities,
    opportunity_contacts,
    opportunity_stages,
)

__all__ = [
    "ADDRESS",
    "CRM_KINDS",
    "CRM_STATES",
    "EFFECTS",
    "INBOX_KINDS",
    "NAMING",
    "SMS_STATES",
    "alert_log",
    "api_requests",
    "consent_ledger",
    "contact_state",
    "crm_id_map",
    "crm_outbox",
    "cursors",
    "decision_log",
    "inbox",
    "job_runs",
    "message_events",
    "messages",
    "metadata",
    "oauth_tokens",
    "opportunities",
    "opportunity_contacts",
    "opportunity_stages",
    "ops_actions",
    "retry_ledger",
    "sla_timers",
    "sms_outbox",
]


contact_state = sa.Table(
    "contact_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crm_object_type", sa.String(64), nullable=False),
    sa.Column("crm_id", sa.String(64), nullable=False),
    sa.Column("phone", ADDRESS, nullable=True),
    sa.Column("tz_zones", sa.JSON, nullable=True),
    sa.Column("tz_source", sa.String(16), nullable=True),
    sa.Column("owner_id", sa.String(64), nullable=True),
    sa.Column("owner_team", sa.String(128), nullable=True),
    sa.Column("lifecycle_stage", sa.String(128), nullable=True),
    sa.Column("journey_state", sa.String(128), nullable=True),
    sa.Column("active_motion", sa.String(128), nullable=True),
    sa.Column("disposition", sa.String(64), nullable=True),
    sa.Column("consent", sa.String(16), nullable=False),
    sa.Column("segments", sa.JSON, nullable=False),
    sa.Column("crm_modstamp", UtcDateTime, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("crm_object_type", "crm_id"),
    sa.Index(None, "phone"),
)

# each contact's next instant per timed trigger ("inactive:14", "date:meeting_time:7200"),
# kept by `store.timed_index`; the scan reads the rows whose instant fell due
timed_instants = sa.Table(
    "timed_instants",
    metadata,
    sa.Column("contact_id", sa.Integer, nullable=False),  # contact_state.id
    sa.Column("trigger", sa.String(160), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("contact_id", "trigger"),
    sa.Index(None, "due_at"),
)

consent_ledger = sa.Table(
    "consent_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phone", ADDRESS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("evidence_sid", sa.String(64), nullable=True),
    sa.Column("evidence_text", sa.Text, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    # NULL: the entry holds for every purpose; else the one purpose it revokes or grants
    sa.Column("purpose", sa.String(64), nullable=True),
    # the hash chain (connector/store/consent_chain.py); NULL only before migration 0009
    sa.Column("prev_hash", sa.String(64), nullable=True),
    sa.Column("row_hash", sa.String(64), nullable=True),
    # The same evidence recorded twice (a replayed webhook) is one entry. Entries without
    # evidence (NULL sid) are distinct by design: NULLs never collide in a unique key.
    sa.UniqueConstraint("phone", "source", "evidence_sid"),
    sa.Index(None, "phone", "at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sid", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("from_number", ADDRESS, nullable=False),
    sa.Column("to_number", ADDRESS, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("play", sa.String(128), nullable=True),
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("num_segments", sa.Integer, nullable=False),
    *_ref(),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("sid"),
    # a contact's messages, and "did they reply after X" as one probe (the report)
    sa.Index(None, "contact_type", "contact_id", "direction", "created_at"),
    # "was this number texted in the week before its STOP" as one probe (the report)
    sa.Index(None, "to_number", "direction", "created_at"),
    # a page of due contacts' last replies, by number, in one query (the clock's planning)
    sa.Index("ix_messages_from_number", "from_number", "direction", "created_at"),
    # outbound in a period; the trailing columns cover every other column the report reads
    sa.Index(
        "ix_messages_direction_created_at",
        "direction",
        "created_at",
        "contact_type",
        "contact_id",
        "play",
        "status",
        "to_number",
    ),
)

message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sid", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("applied", sa.Boolean, nullable=False),
    sa.Column("raw", sa.JSON, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Index(None, "sid"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("provider_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("processed_at", UtcDateTime, nullable=True),
    sa.Column("dead_at", UtcDateTime, nullable=True),  # dead-lettered: never claimed again
    sa.UniqueConstraint("provider_id"),
    sa.CheckConstraint(_in("kind", INBOX_KINDS), name="kind"),
    sa.Index(None, "processed_at", "dead_at", "id"),  # the claim, the depth and dead counts
)

sms_outbox = sa.Table(
    "sms_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(191), nullable=False),
    *_ref(),
    sa.Column("to_number", ADDRESS, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("play", sa.String(128), nullable=True),
    sa.Column("send_at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("provider_sid", sa.String(64), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("idempotency_key"),
    sa.CheckConstraint(_in("state", SMS_STATES), name="state"),
    sa.Index(None, "state", "send_at"),
    sa.Index(None, "provider_sid"),  # a provider's click event names the text by its sid
    sa.Index("ix_sms_outbox_to_number", "to_number"),  # a page's texts queued, by number
)

crm_outbox = sa.Table(
    "crm_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("external_id", sa.String(191), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    *_ref("target", nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("owner_id", sa.String(64), nullable=True),
    sa.Column("due", UtcDateTime, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("crm_id", sa.String(64), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("external_id"),
    sa.CheckConstraint(_in("kind", CRM_KINDS), name="kind"),
    sa.CheckConstraint(_in("state", CRM_STATES), name="state"),
    sa.Index(None, "state", "id"),
    sa.Index(None, "target_type", "target_id", "kind", "state"),  # per-contact look-ups
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("modstamp", UtcDateTime, nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

decision_log = sa.Table(
    "decision_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    *_ref(),
    sa.Column("phone", ADDRESS, nullable=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),  # the codes, which reports count
    sa.Column("play", sa.String(128), nullable=True),
    sa.Column("send_at", UtcDateTime, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    # {"reasons": [{"code", "detail"}], "inputs": {...}}, never the phone; NULL before 0004
    sa.Column("details", sa.JSON, nullable=True),
    # the treated contact's arm of a play with variants (connector/domain/variants.py)
    sa.Column("variant", sa.String(64), nullable=True),
    sa.Index(None, "contact_type", "contact_id", "at"),
    sa.Index("ix_decision_log_play_variant", "play", "variant"),
)

sla_timers = sa.Table(
    "sla_timers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    *_ref(nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("started", UtcDateTime, nullable=False),
    sa.Column("due", UtcDateTime, nullable=False),
    sa.Column("met", UtcDateTime, nullable=True),
    sa.Column("breached", UtcDateTime, nullable=True),
    sa.Column("escalated", UtcDateTime, nullable=True),
    sa.Column("source_sid", sa.String(64), nullable=True),
    sa.Index(None, "due"),
    # One open timer per contact and kind.
    sa.Index(
        "uq_sla_timers_open",
        "contact_type",
        "contact_id",
        "kind",
        unique=True,
        sqlite_where=sa.text("met IS NULL AND breached IS NULL"),
        postgresql_where=sa.text("met IS NULL AND breached IS NULL"),
    ),
)

retry_ledger = sa.Table(
    "retry_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("effect", sa.String(8), nullable=False),
    sa.Column("key", sa.String(191), nullable=False),
    sa.Column("reason_code", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_failed_at", UtcDateTime, nullable=False),
    sa.Column("last_failed_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.CheckConstraint(_in("effect", EFFECTS), name="effect"),
    # One open entry per effect; a resolved one may be followed by a new failure.
    sa.Index(
        "uq_retry_ledger_open",
        "effect",
        "key",
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    ),
)


# A rep's text from the CRM (the mapping's `rep_send:` record), claimed once by its CRM id
# so a restart or a second replica never sends it twice; the outcome written back is kept
# so it is written once (`written` is the result last written on the record).
rep_sends = sa.Table(
    "rep_sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crm_id", sa.String(64), nullable=False, unique=True),
    *_ref(nullable=True),
    sa.Column("owner_id", sa.String(64), nullable=True),
    sa.Column("outbox_key", sa.String(255), nullable=True, unique=True),
    sa.Column("close_follow_up", sa.Boolean, nullable=False),
    sa.Column("result", sa.Text, nullable=True),  # set at the claim when nothing is queued
    sa.Column("written", sa.Text, nullable=True),
    sa.Column("done", sa.Boolean, nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=False),
    sa.Column("settled_at", UtcDateTime, nullable=True, index=True),
)


# One row per tracked link in one queued text (connector/engine/links.py): the random
# token of its short URL, where it goes (always from the plays file), and when it expires.
# The token carries nothing: the contact is found through this row, never in the URL.
tracked_links = sa.Table(
    "tracked_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("outbox_id", sa.Integer, nullable=False),  # sms_outbox.id of the text
    sa.Column("link", sa.String(64), nullable=False),
    sa.Column("play", sa.String(128), nullable=True),
    *_ref(),
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("high_intent", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("token"),
    sa.UniqueConstraint("outbox_id", "link"),
)

# Clicks, at most one row per link and flag: `counted` (a person: the CRM hears of it once,
# `processed_at` set when its writes are queued), `previewer`, `too_fast`.
link_clicks = sa.Table(
    "link_clicks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("link_id", sa.Integer, nullable=False),  # tracked_links.id
    sa.Column("flag", sa.String(16), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("user_agent", sa.String(200), nullable=True),
    *_ref(),
    sa.Column("processed_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("link_id", "flag"),
    sa.Index(None, "processed_at", "flag"),
    sa.Index(None, "contact_type", "contact_id", "at"),
)
