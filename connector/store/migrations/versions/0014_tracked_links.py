"""tracked_links, link_clicks: per-message short URLs of a play's links, and their clicks

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tracked_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=False),
        sa.Column("link", sa.String(64), nullable=False),
        sa.Column("play", sa.String(128), nullable=True),
        sa.Column("contact_type", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("high_intent", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracked_links"),
        sa.UniqueConstraint("token", name="uq_tracked_links_token"),
        sa.UniqueConstraint("outbox_id", "link", name="uq_tracked_links_outbox_id_link"),
    )
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("link_id", sa.Integer, nullable=False),
        sa.Column("flag", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=True),
        sa.Column("contact_type", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_link_clicks"),
        sa.UniqueConstraint("link_id", "flag", name="uq_link_clicks_link_id_flag"),
    )
    op.create_index("ix_link_clicks_processed_at_flag", "link_clicks", ["processed_at", "flag"])
    op.create_index(
        "ix_link_clicks_contact_type_contact_id_at",
        "link_clicks",
        ["contact_type", "contact_id", "at"],
    )


def downgrade() -> None:
    op.drop_index("ix_link_clicks_contact_type_contact_id_at", table_name="link_clicks")
    op.drop_index("ix_link_clicks_processed_at_flag", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("tracked_links")
