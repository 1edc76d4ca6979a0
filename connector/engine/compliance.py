"""What an inbound compliance verdict does, in the ingest's transaction: the sender's
consent as the classifier needs it, then the consent event for every record sharing the
number, then the HELP answer or opt-out confirmation (`auto_replies`, which needs the
opt-out in the ledger first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.domain import consent as consent_rules
from connector.domain.dispositions import Classification
from connector.domain.keywords import Sender
from connector.domain.model import ConsentStatus, ContactState, CrmRef, Message
from connector.domain.policy import Policy
from connector.engine import auto_replies, consent_sync
from connector.ports import Connection
from connector.store import consent


def sender(conn: Connection, phone: str, states: Sequence[ContactState]) -> Sender:
    """The sender's consent now: the ledger, or any record that says opted out (opt-out
    is absolute, whichever side knows first)."""
    opted_out = consent_rules.is_suppressed(consent.history(conn, phone)) or any(
        s.consent is ConsentStatus.OPTED_OUT for s in states
    )
    return Sender(opted_out=opted_out)


@dataclass(frozen=True, slots=True)
class Recorded:
    consent_changes: int = 0
    crm_writes: int = 0  # consent fields queued for the CRM records sharing the number
    auto_replies: int = 0  # HELP answers and opt-out confirmations queued


def record(
    conn: Connection,
    policy: Policy,
    *,
    found: Classification,
    message: Message,
    states: Sequence[ContactState],
    refs: Sequence[CrmRef],
    extra: Sequence[CrmRef],
    opt_out_type: object,
    now: datetime,
) -> Recorded:
    if found.compliance is None:
        return Recorded()
    phone = message.from_
    changes = writes = 0
    entry = consent_rules.from_keyword(found.compliance, phone=phone, at=message.at)
    if entry is not None:
        changes = 1
        writes = consent_sync.record_event(conn, entry, now, also=list(extra))
    contact = states[0] if states else None
    if contact is None and refs:
        contact = ContactState(ref=refs[0], phone=phone)
    queued = auto_replies.answer(
        conn,
        policy,
        found.compliance,
        phone=phone,
        contact=contact,
        opt_out_type=opt_out_type if isinstance(opt_out_type, str) else None,
        now=now,
    )
    return Recorded(changes, writes, int(queued))
