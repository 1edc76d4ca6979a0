"""rep_sends: a rep's texts from the CRM, claimed once by their CRM record id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # the unique crm_id is the claim: a second replica's insert of the same record fails
    op.create_table(
        "rep_sends",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_id", sa.String(64), nullable=False),
        sa.Column("contact_type", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("outbox_key", sa.String(255), nullable=True),
        sa.Column("close_follow_up", sa.Boolean, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("written", sa.Text, nullable=True),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=False),
        sa.Column("settled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rep_sends"),
        sa.UniqueConstraint("crm_id", name="uq_rep_sends_crm_id"),
        sa.UniqueConstraint("outbox_key", name="uq_rep_sends_outbox_key"),
    )
    op.create_index("ix_rep_sends_settled_at", "rep_sends", ["settled_at"])


def downgrade() -> None:
    op.drop_index("ix_rep_sends_settled_at", table_name="rep_sends")
    op.drop_table("rep_sends")
