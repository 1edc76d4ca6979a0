"""timed_instants: each contact's next instant per timed trigger, indexed by instant, so
the clock's scan reads only what falls due (issue #21 part 3)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # filled by the first timed scan (no fingerprint stored yet: a rebuild from contact_state)
    op.create_table(
        "timed_instants",
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(160), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "trigger", name="pk_timed_instants"),
    )
    op.create_index("ix_timed_instants_due_at", "timed_instants", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_timed_instants_due_at", table_name="timed_instants")
    op.drop_table("timed_instants")
