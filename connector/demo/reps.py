"""Reps answering from the CRM: a rep creates the mapping's `rep_send:` record on the
person (Salesforce: a Task with Type SMS and Status "Send SMS"; HubSpot: a task marked
SMS, associated with the contact) through the vendor's REST API, as the CRM's UI would,
and smsync's `rep_send` job sends it."""

from __future__ import annotations

from typing import Any

from connector.config import RepSend
from connector.demo.crm_admin import CrmAdmin
from connector.domain.model import CrmRef


def send_record(
    vendor: str, cfg: RepSend, contact: CrmRef, owner_id: str, body: str, *, due_ms: int = 0
) -> dict[str, Any]:
    """The values a rep fills in: the status that asks for a send, the kind, the text;
    the rep owns it (the activity smsync logs is the rep's)."""
    values: dict[str, Any] = {cfg.status_field: cfg.send_status, cfg.body_field: body}
    if cfg.kind_field is not None:
        values[cfg.kind_field] = cfg.kind
    if vendor == "salesforce":
        values.update(WhoId=contact.id, OwnerId=owner_id, Subject="SMS reply")
    else:
        values.update(
            hubspot_owner_id=owner_id, hs_task_subject="SMS reply", hs_timestamp=str(due_ms)
        )
    return values


def text_back(
    admin: CrmAdmin, cfg: RepSend, contact: CrmRef, owner_id: str, body: str, *, now_ms: int = 0
) -> str:
    """A rep texts `body` to `contact` from the CRM; the new record's id."""
    values = send_record(admin.vendor, cfg, contact, owner_id, body, due_ms=now_ms)
    linked = contact.id if admin.vendor == "hubspot" else None
    return admin.create(cfg.object, values, contact=linked)
