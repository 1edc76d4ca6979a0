"""decision_log.variant: the arm of a play's experiment each decision assigned, so the
report can count per variant without reading the JSON details

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decision_log", sa.Column("variant", sa.String(64), nullable=True))
    op.create_index("ix_decision_log_play_variant", "decision_log", ["play", "variant"])


def downgrade() -> None:
    op.drop_index("ix_decision_log_play_variant", table_name="decision_log")
    op.drop_column("decision_log", "variant")
