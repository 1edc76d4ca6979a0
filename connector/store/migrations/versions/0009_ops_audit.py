"""ops_actions (who retried or dropped which failure, and why), job_runs (each
scheduled job's runs, for `smsync status`), and the consent ledger's hash chain
(prev_hash, row_hash; existing rows backfilled in id order), and alert_log (one alert per
condition per window, kept until delivered)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
LEDGER = "consent_ledger"
BATCH = 1000


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
    op.create_table(
        "alert_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("condition", sa.String(191), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_log"),
        sa.UniqueConstraint(
            "condition", "window_start", name="uq_alert_log_condition_window_start"
        ),
    )
    op.add_column(LEDGER, sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column(LEDGER, sa.Column("row_hash", sa.String(64), nullable=True))
    with _changes_allowed():
        _backfill()


def _backfill() -> None:
    """Chain the rows already there, oldest id first, in batches (a large ledger is never
    held in memory). The hash is `connector.store.consent_chain`'s, over whatever columns
    the table has now (a purpose column added before this revision included)."""
    from connector.store.consent_chain import GENESIS, row_hash

    bind = op.get_bind()
    table = sa.Table(LEDGER, sa.MetaData(), autoload_with=bind)
    prev, last_id = GENESIS, 0
    while True:
        rows = bind.execute(
            sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            digest = row_hash(prev, row._asdict())
            updates.append({"rid": row.id, "p": prev, "h": digest})
            prev, last_id = digest, row.id
        bind.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("rid"))
            .values(prev_hash=sa.bindparam("p"), row_hash=sa.bindparam("h")),
            updates,
        )


@contextmanager
def _changes_allowed() -> Iterator[None]:
    """Lift the append-only trigger of migration 0001 for the backfill, then put it back."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {LEDGER} DISABLE TRIGGER {LEDGER}_append_only")
        yield
        op.execute(f"ALTER TABLE {LEDGER} ENABLE TRIGGER {LEDGER}_append_only")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_update")
    yield
    op.execute(
        f"CREATE TRIGGER {LEDGER}_no_update BEFORE UPDATE ON {LEDGER} "
        f"BEGIN SELECT RAISE(ABORT, '{LEDGER} is append-only'); END"
    )


def downgrade() -> None:
    op.drop_table("alert_log")
    op.execute(f"ALTER TABLE {LEDGER} DROP COLUMN row_hash")
    op.execute(f"ALTER TABLE {LEDGER} DROP COLUMN prev_hash")
    op.drop_index("ix_job_runs_job_finished_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_ops_actions_queue_row_id", table_name="ops_actions")
    op.drop_table("ops_actions")
