"""What governance needs to know about one recipient, read from the store in the caller's
transaction: consent from the phone-keyed ledger, the texts already sent or scheduled to
the number, the last inbound text, an open follow-up, a `not_now` reply, token values.

Read at plan time and again at send time, so a STOP that arrived in between blocks the
send (the chokepoint is final before the provider)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from connector.domain import consent as consent_rules
from connector.domain.caps import SentRecord
from connector.domain.governance import ContactContext
from connector.domain.instants import is_date_only, parse_instant
from connector.domain.model import ConsentStatus, ContactState, CrmRef
from connector.domain.template_values import token_values
from connector.engine.outbox_keys import kind_of
from connector.errors import SmsFailure
from connector.ports import Connection
from connector.store import consent, contacts, crm_outbox, links, messages, sla, sms_outbox

NOT_NOW = "not_now"
LAST_ACTIVITY = "last_activity"  # a segment holding the mapped last-activity field
# a provider verdict on the number, kept in sms_outbox.last_error (see engine.send_outcomes)
LANDLINE_ERROR = SmsFailure.LANDLINE.value
OWN_WRITE_SKEW = timedelta(minutes=2)  # CRM clock vs ours, when telling our writes apart
OWN_WRITE_LATENCY = timedelta(minutes=15)  # queued to first written, for a healthy writeback


@dataclass(frozen=True, slots=True)
class EffectiveConsent:
    """The number's consent for every purpose, that of each purpose that differs
    (`consent.by_purpose`), and when it last opted out of anything."""

    status: ConsentStatus
    opted_out_at: datetime | None = None
    by_purpose: Mapping[str, ConsentStatus] = field(default_factory=dict)


def effective_consent(conn: Connection, state: ContactState) -> EffectiveConsent:
    """The number's consent, for every purpose and for each.

    The ledger decides; a CRM record that says opted out is honoured even before the
    ledger has caught up (opt-out is absolute, whichever side knows first), as an opt-out
    of every purpose, unless the ledger's CRM view (`consent.crm_view`) says opted out
    already: then the field is smsync's own write of an opt-out of that purpose alone."""
    if not state.phone:
        return EffectiveConsent(state.consent)
    history = consent.history(conn, state.phone)
    entry = consent_rules.effective(history)
    purposes = consent_rules.by_purpose(history)
    last_out = consent_rules.last_opt_out(history)
    if entry is not None and entry.status is ConsentStatus.OPTED_OUT:
        return EffectiveConsent(ConsentStatus.OPTED_OUT, entry.at)
    if state.consent is ConsentStatus.OPTED_OUT:
        shown = consent_rules.crm_view(history)
        if shown is None or shown.status is not ConsentStatus.OPTED_OUT:
            return EffectiveConsent(ConsentStatus.OPTED_OUT, None)
    since = last_out if purposes else None
    if entry is not None:
        return EffectiveConsent(entry.status, since, purposes)
    if state.consent is ConsentStatus.OPTED_OUT:  # the echo of a purpose's opt-out
        return EffectiveConsent(ConsentStatus.UNKNOWN, since, purposes)
    return EffectiveConsent(state.consent, since, purposes)


def _sends(conn: Connection, phone: str, exclude_id: int | None) -> tuple[SentRecord, ...]:
    return tuple(
        SentRecord(
            live.at,
            kind_of(live.idempotency_key),
            live.play,
            queued_id=live.id if live.pending else None,
        )
        for live in sms_outbox.live_to(conn, phone, exclude_id)
    )


def _logged_by_us(conn: Connection, ref: CrmRef, at: datetime, whole_day: bool) -> bool:
    """Whether one of smsync's activity or task writes on the record explains `at` (or, for
    a date-only value, falls on that day): its first write, up to `OWN_WRITE_LATENCY` after
    it was queued, or its last write (`done_at`), each within `OWN_WRITE_SKEW`. Only those
    two moments: a follow-up task queued at 10:30 and raised at 17:45 does not hide the
    rep's call at 14:00."""
    start, end = (at, at + timedelta(days=1)) if whole_day else (at, at)
    return crm_outbox.written_around(
        conn,
        ref,
        ("activity", "task"),
        queued=(start - OWN_WRITE_LATENCY, end + OWN_WRITE_SKEW),
        done=(start - OWN_WRITE_SKEW, end + OWN_WRITE_SKEW),
    )


def rep_activity(raw: str | None, ours: Callable[[datetime, bool], bool]) -> datetime | None:
    """The record's last activity, unless it is smsync's own logging.

    CRMs move their last-activity fields (Salesforce's LastActivityDate, HubSpot's
    notes_last_updated) when smsync logs a text, so without this every text would make the
    rep look engaged and pause the next play. `ours(at, whole_day)` says whether smsync
    wrote on the record then; a date-only value on a day smsync wrote is taken as ours (a
    rep's call on the day of a text cannot be told apart)."""
    at = parse_instant(raw)
    if at is None:
        return None
    return None if ours(at, is_date_only(raw)) else at


def _open_task(conn: Connection, ref: CrmRef) -> bool:
    """An open SLA timer is a reply waiting on its owner's follow-up task; a task still
    queued for the CRM is one too."""
    return sla.open_timer(conn, ref) is not None or crm_outbox.queued_for(conn, ref, "task")


def load(
    conn: Connection,
    state: ContactState,
    *,
    exclude_outbox_id: int | None = None,
    default_zone: str | None = None,
) -> ContactContext:
    """The recipient as governance sees it; `exclude_outbox_id` leaves out the row being
        re-checked, so a queued text does not count against itself; `default_zone` (the policy's)
    places date tokens for a recipient whose zone is otherwise unknown."""
    found = effective_consent(conn, state)
    status = found.status
    current = replace(state, consent=status) if status is not state.consent else state
    phone = state.phone
    last_inbound = messages.last_inbound_at(conn, phone) if phone else None
    not_now_at = None
    if state.disposition == NOT_NOW:
        not_now_at = last_inbound or state.modstamp
    landline = bool(phone) and sms_outbox.failed_with(conn, phone or "", LANDLINE_ERROR)
    return ContactContext(
        state=current,
        values=token_values(state, default_zone),
        sends=_sends(conn, phone, exclude_outbox_id) if phone else (),
        last_inbound_at=last_inbound,
        last_click_at=links.last_counted_at(conn, state.ref),
        last_rep_activity_at=rep_activity(
            state.segments.get(LAST_ACTIVITY), partial(_logged_by_us, conn, state.ref)
        ),
        open_task=_open_task(conn, state.ref),
        not_now_at=not_now_at,
        opted_out_at=found.opted_out_at,
        line_type="landline" if landline else None,
        purpose_consent=found.by_purpose,
    )


def find_contact(conn: Connection, crm_id: str) -> ContactState | None:
    """The stored record with this CRM id, whatever its object type (ids are unique
    across objects in both CRMs); None when the connector has not pulled it."""
    kind = contacts.object_type_of(conn, crm_id)
    return None if kind is None else contacts.get(conn, CrmRef(kind, crm_id))
