"""`on_drop: task`: when a play that must reach the person cannot text them (quiet hours in
their zone, the play's window expired, no SMS consent where they are), the owner gets one
task to call instead, with the reason in words.

One task per play and trigger, whichever step dropped it (the plan, or the send-time
re-check): its external id is the play's outbox key plus `call_instead`, and the CRM
outbox keeps the first row of an external id, so a replay or a second drop adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from connector.domain import plays as p
from connector.domain.governance_model import Reason
from connector.domain.model import CrmRef, CrmWrite
from connector.engine.crm_records import task_id
from connector.engine.outbox_keys import play_key
from connector.ports import Connection
from connector.store import contacts, crm_outbox

log = structlog.get_logger(__name__)

CALL_INSTEAD = "call_instead"
# the drop reasons a call can work around, in the owner's words
WORDS = {
    "quiet_hours": "quiet hours in the lead's zone",
    "expired": "the text's window passed before it could go out",
    "consent_required": "no SMS consent on record where they are",
}


def call_instead(
    conn: Connection,
    play: p.Play | None,
    contact: CrmRef | None,
    reasons: Sequence[Reason],
    triggered_at: datetime | None,
    *,
    now: datetime,
    owner_id: str | None = None,
) -> bool:
    """Queue the owner's call-instead task when the play asks for one and a reason it
    names dropped the text; True when a task was queued now."""
    if play is None or play.on_drop != "task" or contact is None or triggered_at is None:
        return False
    reason = next((r for r in reasons if r.code in WORDS), None)
    if reason is None:
        return False
    if owner_id is None:
        state = contacts.get(conn, contact)
        owner_id = state.owner_id if state is not None else None
    words = WORDS[reason.code]
    detail = f" ({reason.detail})" if reason.detail else ""
    write = CrmWrite(
        "task",
        task_id(play_key(play.name, contact, triggered_at), CALL_INSTEAD),
        contact,
        {
            "kind": CALL_INSTEAD,
            "subject": f"Call instead: {words}",
            "body": (
                f'The play "{play.name}" could not text {contact}: {words}{detail}.'
                " Call them instead."
            ),
            "priority": "high",
            "status": "open",
        },
        owner_id=owner_id,
        due=now,
    )
    queued = crm_outbox.enqueue(conn, write, now)
    if queued:
        log.info("plan.call_instead", play=play.name, contact=str(contact), reason=reason.code)
    return queued
