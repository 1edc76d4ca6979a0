"""api_requests: the first answer to each `POST /api/send` idempotency key

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Repeats of a key are answered from here, so twenty concurrent requests with one key
    # are one decision and one text, and each gets the first request's answer.
    op.create_table(
        "api_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("outbox_key", sa.String(191), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("settled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_requests"),
        sa.UniqueConstraint("idempotency_key", name="uq_api_requests_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("api_requests")
