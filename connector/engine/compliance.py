"""What an inbound compliance verdict does, in the ingest's transaction: the sender's
consent as the classifier needs it, then the consent event for every record sharing the
number (an opt-out revokes what `purposes.revoked` says: every purpose, or under
revocation_scope: purpose the purpose of the play the reply answers), then the HELP
answer or opt-out confirmation (`auto_replies`, which needs the opt-out in the ledger
first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.domain import consent as consent_rules
from connector.domain.dispositions import Classification
from connector.domain.keywords import KeywordKind, KeywordMatch, KeywordRule, Sender
from connector.domain.model import ConsentStatus, ContactState, CrmRef, Message
from connector.domain.policy import Policy
from connector.domain.purposes import Revocation, RevocationScope, revoked
from connector.engine import auto_replies, consent_sync
from connector.ports import Connection
from connector.store import consent, messages


def sender(conn: Connection, phone: str, states: Sequence[ContactState]) -> Sender:
    """The sender's consent now: the ledger, or any record that says opted out (opt-out
    is absolute, whichever side knows first) unless that field is smsync's own write of
    a marketing opt-out (`consent.crm_view`); `partly` when opted out of some purposes
    alone."""
    history = consent.history(conn, phone)
    shown = consent_rules.crm_view(history)
    crm_says = any(s.consent is ConsentStatus.OPTED_OUT for s in states) and (
        shown is None or shown.status is not ConsentStatus.OPTED_OUT
    )
    opted_out = consent_rules.current(history) is ConsentStatus.OPTED_OUT or crm_says
    partly = not opted_out and consent_rules.is_suppressed(history)
    return Sender(opted_out=opted_out, partly=partly)


@dataclass(frozen=True, slots=True)
class Recorded:
    consent_changes: int = 0
    crm_writes: int = 0  # consent fields queued for the CRM records sharing the number
    auto_replies: int = 0  # HELP answers and opt-out confirmations queued


def reach(
    conn: Connection, policy: Policy, match: KeywordMatch, phone: str, at: datetime
) -> Revocation:
    """What an opt-out revokes: every purpose, or the purpose of the play whose text it
    answers (`purposes.revoked`)."""
    rules = policy.purposes
    attributed = None
    if rules.scope is RevocationScope.PURPOSE:
        play = messages.last_play_to(conn, phone, at - rules.attribution_window)
        found = policy.plays.get(play) if play is not None else None
        if found is not None:
            attributed = (found.name, found.purpose)
    return revoked(
        rules,
        body=match.evidence_text,
        provider_keyword=match.rule is KeywordRule.PROVIDER,
        attributed=attributed,
    )


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
    match = found.compliance
    revocation = None
    if match.kind is KeywordKind.OPT_OUT:
        revocation = reach(conn, policy, match, phone, match.at or message.at)
    purpose = revocation.purpose if revocation is not None else None
    entry = consent_rules.from_keyword(match, phone=phone, at=message.at, purpose=purpose)
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
        revokes=revocation.describe() if revocation is not None else None,
    )
    return Recorded(changes, writes, int(queued))
