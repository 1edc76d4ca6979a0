"""The CRM's pipeline tables (reached as ``tables.<name>``, see `tables.py`)."""

from __future__ import annotations

import sqlalchemy as sa

from connector.store.coltypes import UtcDateTime
from connector.store.table_base import metadata, ref_columns

# The CRM's pipeline, pulled like contacts (connector/crm/*/pipeline.py): opportunities
# (Salesforce Opportunity, HubSpot deals), which contacts each involves, and each stage it
# entered and when. The report ties texts to them (connector/store/report_pipeline.py).
opportunities = sa.Table(
    "opportunities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crm_object_type", sa.String(64), nullable=False),
    sa.Column("crm_id", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(128), nullable=True),
    sa.Column("amount", sa.Float, nullable=True),
    sa.Column("owner_id", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),  # the CRM's creation time
    sa.Column("close_date", UtcDateTime, nullable=True),
    sa.Column("is_closed", sa.Boolean, nullable=False),
    sa.Column("is_won", sa.Boolean, nullable=False),
    sa.Column("crm_modstamp", UtcDateTime, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("crm_object_type", "crm_id"),
)

opportunity_contacts = sa.Table(
    "opportunity_contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("opportunity_id", sa.String(64), nullable=False),  # opportunities.crm_id
    *ref_columns(nullable=False),
    sa.UniqueConstraint("opportunity_id", "contact_type", "contact_id"),
    sa.Index(None, "contact_type", "contact_id"),
)

opportunity_stages = sa.Table(
    "opportunity_stages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("opportunity_id", sa.String(64), nullable=False),  # opportunities.crm_id
    sa.Column("stage", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("opportunity_id", "stage", "at"),
)
