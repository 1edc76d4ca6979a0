"""decision_log.details: each reason's detail and the evaluation's inputs (zone provenance)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: rows logged before this revision keep only their codes.
    op.add_column("decision_log", sa.Column("details", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("decision_log", "details")
