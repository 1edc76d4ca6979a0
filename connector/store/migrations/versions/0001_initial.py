"""initial schema: contact state, consent ledger, messages, inbox, outboxes, ledgers

Revision ID: 0001
Revises:
Create Date: 2024-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _ref(prefix: str = "contact", *, nullable: bool = True) -> list[sa.Column[str]]:
    return [
        sa.Column(f"{prefix}_type", sa.String(64), nullable=nullable),
        sa.Column(f"{prefix}_id", sa.String(64), nullable=nullable),
    ]


def upgrade() -> None:
    op.create_table(
        "contact_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_object_type", sa.String(64), nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
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
        sa.Column("crm_modstamp", TS, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_state"),
        sa.UniqueConstraint(
            "crm_object_type", "crm_id", name="uq_contact_state_crm_object_type_crm_id"
        ),
    )
    op.create_index("ix_contact_state_phone", "contact_state", ["phone"])

    op.create_table(
        "consent_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("evidence_sid", sa.String(64), nullable=True),
        sa.Column("evidence_text", sa.Text, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_ledger"),
        sa.UniqueConstraint(
            "phone", "source", "evidence_sid", name="uq_consent_ledger_phone_source_evidence_sid"
        ),
    )
    op.create_index("ix_consent_ledger_phone_at", "consent_ledger", ["phone", "at"])
    _forbid_changes("consent_ledger")

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("from_number", sa.String(20), nullable=False),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("play", sa.String(128), nullable=True),
        sa.Column("error_code", sa.Integer, nullable=True),
        sa.Column("num_segments", sa.Integer, nullable=False),
        *_ref(),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("sid", name="uq_messages_sid"),
    )
    op.create_index(
        "ix_messages_contact_type_contact_id", "messages", ["contact_type", "contact_id"]
    )

    op.create_table(
        "message_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer, nullable=True),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_events"),
    )
    op.create_index("ix_message_events_sid", "message_events", ["sid"])

    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("provider_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("provider_id", name="uq_inbox_provider_id"),
        sa.CheckConstraint("kind IN ('inbound', 'status')", name="ck_inbox_kind"),
    )
    op.create_index("ix_inbox_processed_at_id", "inbox", ["processed_at", "id"])

    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(191), nullable=False),
        *_ref(),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("play", sa.String(128), nullable=True),
        sa.Column("send_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("provider_sid", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_sms_outbox_idempotency_key"),
        sa.CheckConstraint(
            "state IN ('pending', 'claimed', 'sent', 'failed', 'ambiguous')",
            name="ck_sms_outbox_state",
        ),
    )
    op.create_index("ix_sms_outbox_state_send_at", "sms_outbox", ["state", "send_at"])

    op.create_table(
        "crm_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(191), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        *_ref("target", nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("due", TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("crm_id", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_crm_outbox"),
        sa.UniqueConstraint("external_id", name="uq_crm_outbox_external_id"),
        sa.CheckConstraint(
            "kind IN ('field_update', 'activity', 'task')", name="ck_crm_outbox_kind"
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'claimed', 'done', 'failed')", name="ck_crm_outbox_state"
        ),
    )
    op.create_index("ix_crm_outbox_state_id", "crm_outbox", ["state", "id"])

    op.create_table(
        "cursors",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("modstamp", TS, nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cursors"),
    )

    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_ref(),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("play", sa.String(128), nullable=True),
        sa.Column("send_at", TS, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decision_log"),
    )
    op.create_index(
        "ix_decision_log_contact_type_contact_id_at",
        "decision_log",
        ["contact_type", "contact_id", "at"],
    )

    op.create_table(
        "sla_timers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_ref(nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started", TS, nullable=False),
        sa.Column("due", TS, nullable=False),
        sa.Column("met", TS, nullable=True),
        sa.Column("breached", TS, nullable=True),
        sa.Column("escalated", TS, nullable=True),
        sa.Column("source_sid", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sla_timers"),
    )
    op.create_index("ix_sla_timers_due", "sla_timers", ["due"])
    op.create_index(
        "uq_sla_timers_open",
        "sla_timers",
        ["contact_type", "contact_id", "kind"],
        unique=True,
        sqlite_where=sa.text("met IS NULL AND breached IS NULL"),
        postgresql_where=sa.text("met IS NULL AND breached IS NULL"),
    )

    op.create_table(
        "retry_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.Column("key", sa.String(191), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_failed_at", TS, nullable=False),
        sa.Column("last_failed_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retry_ledger"),
        sa.CheckConstraint("effect IN ('crm', 'sms')", name="ck_retry_ledger_effect"),
    )
    op.create_index(
        "uq_retry_ledger_open",
        "retry_ledger",
        ["effect", "key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )


def _forbid_changes(table: str) -> None:
    """The ledger is append-only: the database itself refuses UPDATE and DELETE."""
    message = f"{table} is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )


def _allow_changes(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    _allow_changes("consent_ledger")
    for table in (
        "retry_ledger",
        "sla_timers",
        "decision_log",
        "cursors",
        "crm_outbox",
        "sms_outbox",
        "inbox",
        "message_events",
        "messages",
        "consent_ledger",
        "contact_state",
    ):
        op.drop_table(table)
