"""crm_outbox: an index by target record, for the chokepoint's per-contact look-ups

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every governance evaluation asks whether a follow-up task for the contact is still
# queued and when smsync last logged on the record; without this each was a scan of an
# outbox that only grows.
COLUMNS = ["target_type", "target_id", "kind", "state"]


def upgrade() -> None:
    op.create_index("ix_crm_outbox_target_type_target_id_kind_state", "crm_outbox", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_crm_outbox_target_type_target_id_kind_state", table_name="crm_outbox")
