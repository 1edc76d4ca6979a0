"""A status event: the message's state machine already moved at intake; a final status
updates the message's activity, a failure that says the number is dead marks it invalid
on its records, and a provider block (the recipient opted out there) enters the consent
ledger. The event arrives normalised (`connector/ports.py`, `StatusUpdate`): the engine
reads its `SmsFailure`; the provider's own code is only shown (the activity's status)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import structlog

from connector.domain import consent as consent_rules
from connector.domain.model import CrmWrite, Direction
from connector.engine import consent_sync, crm_records
from connector.engine.context import EngineContext
from connector.engine.ingest_report import IngestReport, queue
from connector.engine.reply_facts import in_motion
from connector.errors import SmsFailure
from connector.logs import mask_phone
from connector.ports import Connection, failure_in
from connector.store import contacts, messages
from connector.store.records import InboxItem

log = structlog.get_logger(__name__)


def status(
    ctx: EngineContext, conn: Connection, item: InboxItem, now: datetime, report: IngestReport
) -> None:
    p = item.payload
    sid = str(p["sid"])
    message = messages.get(conn, sid)
    if message is None or message.direction is not Direction.OUTBOUND:
        return  # not one of ours (or not stored yet): the raw event is kept by intake
    target = messages.contact_of(conn, sid)
    code = message.error_code
    if target is not None and message.status.terminal:
        # the activity keeps the owner it was logged with (a rep's text stays the rep's):
        # no owner here leaves the queued row's, and the CRM record's, as they are
        write = crm_records.activity(message, target)
        fields = dict(write.fields)
        if code is not None:
            fields["status"] = f"{message.status.value} ({code})"
        queue(conn, replace(write, fields=fields), now, report)
        report.crm_writes += int(in_motion(ctx, conn, message, target))
    failure = failure_in(p)
    if failure is SmsFailure.OPTED_OUT:
        entry = consent_rules.from_provider_block(
            phone=message.to,
            at=message.at,
            message_sid=sid,
            error_code=code if code is not None else str(p.get("error_code") or ""),
        )
        report.consent_changes += 1
        report.crm_writes += consent_sync.record_event(conn, entry, now)
    elif failure is not None and failure.number_dead:
        for state in contacts.find_by_phone(conn, message.to):
            if ctx.mapping.maps(state.ref.object_type, "phone_status"):
                queue(
                    conn,
                    CrmWrite(
                        "field_update",
                        crm_records.fields_id(f"{sid}:phone", state.ref),
                        state.ref,
                        {"phone_status": "invalid"},
                    ),
                    now,
                    report,
                )
        log.info("ingest.number_invalid", sid=sid, phone=mask_phone(message.to), code=code)
