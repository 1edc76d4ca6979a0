"""sms_outbox.provider_sid indexed: Twilio Link Shortening's click event names the text by
its message sid only (SMSYNC_LINK_TRACKING=twilio), so the click finds its link through
this index instead of scanning the outbox

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sms_outbox_provider_sid", "sms_outbox", ["provider_sid"])


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_provider_sid", table_name="sms_outbox")
