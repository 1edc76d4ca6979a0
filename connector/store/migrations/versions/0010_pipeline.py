"""opportunities, opportunity_contacts, opportunity_stages: the CRM's pipeline; and an
index on messages by number for the report's inbound-only STOPs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # the report asks, per STOP, whether the number was texted in the week before: without
    # this, a scan of every message per STOP (7 s at 100k messages)
    op.create_index(
        "ix_messages_to_number_direction_created_at",
        "messages",
        ["to_number", "direction", "created_at"],
    )
    # Pulled from the CRM like contacts, so the report can tie texts to pipeline:
    # opportunities created after a text, their stages over time, amounts and wins.
    op.create_table(
        "opportunities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_object_type", sa.String(64), nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(128), nullable=True),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("close_date", TS, nullable=True),
        sa.Column("is_closed", sa.Boolean, nullable=False),
        sa.Column("is_won", sa.Boolean, nullable=False),
        sa.Column("crm_modstamp", TS, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opportunities"),
        sa.UniqueConstraint(
            "crm_object_type", "crm_id", name="uq_opportunities_crm_object_type_crm_id"
        ),
    )
    op.create_table(
        "opportunity_contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column("contact_type", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opportunity_contacts"),
        sa.UniqueConstraint(
            "opportunity_id",
            "contact_type",
            "contact_id",
            name="uq_opportunity_contacts_opportunity_id_contact_type_contact_id",
        ),
    )
    op.create_index(
        "ix_opportunity_contacts_contact_type_contact_id",
        "opportunity_contacts",
        ["contact_type", "contact_id"],
    )
    op.create_table(
        "opportunity_stages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opportunity_stages"),
        sa.UniqueConstraint(
            "opportunity_id", "stage", "at", name="uq_opportunity_stages_opportunity_id_stage_at"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_to_number_direction_created_at", table_name="messages")
    op.drop_table("opportunity_stages")
    op.drop_index(
        "ix_opportunity_contacts_contact_type_contact_id", table_name="opportunity_contacts"
    )
    op.drop_table("opportunity_contacts")
    op.drop_table("opportunities")
