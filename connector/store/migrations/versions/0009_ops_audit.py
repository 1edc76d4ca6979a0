"""ops_actions (who retried or dropped which failure, and why) and job_runs (each
scheduled job's runs, for `smsync status`)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ops_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(8), nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(191), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("why", sa.Text, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ops_actions"),
        sa.CheckConstraint("action IN ('retry', 'drop')", name="ck_ops_actions_action"),
    )
    op.create_index("ix_ops_actions_queue_row_id", "ops_actions", ["queue", "row_id"])
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("crm_api_usage", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_finished_at", "job_runs", ["job", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_job_finished_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_ops_actions_queue_row_id", table_name="ops_actions")
    op.drop_table("ops_actions")
