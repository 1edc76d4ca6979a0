"""What governance needs to know about one recipient, read from the store in the caller's
transaction: consent from the phone-keyed ledger, the texts already sent or scheduled to
the number, the last inbound text, an open follow-up, a `not_now` reply, token values.

Read at plan time and again at send time, so a STOP that arrived in between blocks the
send (the chokepoint is final before the provider)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from connector.domain import consent as consent_rules
from connector.domain.caps import SentRecord
from connector.domain.governance import ContactContext
from connector.domain.instants import is_date_only, parse_instant
from connector.domain.model import ConsentRecord, ConsentStatus, ContactState, CrmRef
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
OWN_WRITES = ("activity", "task")  # the writes that move a CRM's last-activity field


@dataclass(frozen=True, slots=True)
class EffectiveConsent:
    """The number's consent for every purpose, that of each purpose that differs
    (`consent.by_purpose`), and when it last opted out of anything."""

    status: ConsentStatus
    opted_out_at: datetime | None = None
    by_purpose: Mapping[str, ConsentStatus] = field(default_factory=dict)


def effective_consent(conn: Connection, state: ContactState) -> EffectiveConsent:
    """The number's consent, for every purpose and for each (`consent_of` its ledger)."""
    if not state.phone:
        return EffectiveConsent(state.consent)
    return consent_of(state, consent.history(conn, state.phone))


def consent_of(state: ContactState, history: Sequence[ConsentRecord]) -> EffectiveConsent:
    """The number's consent given its ledger entries, oldest first.

    The ledger decides; a CRM record that says opted out is honoured even before the
    ledger has caught up (opt-out is absolute, whichever side knows first), as an opt-out
    of every purpose, unless the ledger's CRM view (`consent.crm_view`) says opted out
    already: then the field is smsync's own write of an opt-out of that purpose alone."""
    if not state.phone:
        return EffectiveConsent(state.consent)
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


def _sent(live: sms_outbox.LiveSend) -> SentRecord:
    return SentRecord(
        live.at,
        kind_of(live.idempotency_key),
        live.play,
        queued_id=live.id if live.pending else None,
    )


def _own_windows(
    at: datetime, whole_day: bool
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """When one of smsync's writes must have been queued, or last written, to explain a
    last activity at `at` (both inclusive; see `_logged_by_us`)."""
    start, end = (at, at + timedelta(days=1)) if whole_day else (at, at)
    queued = (start - OWN_WRITE_LATENCY, end + OWN_WRITE_SKEW)
    done = (start - OWN_WRITE_SKEW, end + OWN_WRITE_SKEW)
    return queued, done


def _logged_by_us(conn: Connection, ref: CrmRef, at: datetime, whole_day: bool) -> bool:
    """Whether one of smsync's activity or task writes on the record explains `at` (or, for
    a date-only value, falls on that day): its first write, up to `OWN_WRITE_LATENCY` after
    it was queued, or its last write (`done_at`), each within `OWN_WRITE_SKEW`. Only those
    two moments: a follow-up task queued at 10:30 and raised at 17:45 does not hide the
    rep's call at 14:00."""
    queued, done = _own_windows(at, whole_day)
    return crm_outbox.written_around(conn, ref, OWN_WRITES, queued=queued, done=done)


def _written_in(
    writes: Sequence[tuple[datetime, datetime | None]], at: datetime, whole_day: bool
) -> bool:
    """`_logged_by_us` over writes already read (queued, last written): the same windows."""
    queued, done = _own_windows(at, whole_day)
    return any(
        queued[0] <= created <= queued[1] or (last is not None and done[0] <= last <= done[1])
        for created, last in writes
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


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the store says of one recipient, beyond its state: read per contact by `load`,
    per page by `load_many`, made into a context by `_context` alike."""

    history: Sequence[ConsentRecord]
    sends: tuple[SentRecord, ...]
    last_inbound_at: datetime | None
    landline: bool
    last_click_at: datetime | None
    open_task: bool
    ours: Callable[[datetime, bool], bool]  # smsync's own write explains this activity


def _context(state: ContactState, facts: _Facts, default_zone: str | None) -> ContactContext:
    found = consent_of(state, facts.history)
    status = found.status
    current = replace(state, consent=status) if status is not state.consent else state
    not_now_at = None
    if state.disposition == NOT_NOW:
        not_now_at = facts.last_inbound_at or state.modstamp
    return ContactContext(
        state=current,
        values=token_values(state, default_zone),
        sends=facts.sends,
        last_inbound_at=facts.last_inbound_at,
        last_click_at=facts.last_click_at,
        last_rep_activity_at=rep_activity(state.segments.get(LAST_ACTIVITY), facts.ours),
        open_task=facts.open_task,
        not_now_at=not_now_at,
        opted_out_at=found.opted_out_at,
        line_type="landline" if facts.landline else None,
        purpose_consent=found.by_purpose,
    )


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
    phone = state.phone
    facts = _Facts(
        history=consent.history(conn, phone) if phone else [],
        sends=(
            tuple(_sent(live) for live in sms_outbox.live_to(conn, phone, exclude_outbox_id))
            if phone
            else ()
        ),
        last_inbound_at=messages.last_inbound_at(conn, phone) if phone else None,
        landline=bool(phone) and sms_outbox.failed_with(conn, phone or "", LANDLINE_ERROR),
        last_click_at=links.last_counted_at(conn, state.ref),
        open_task=_open_task(conn, state.ref),
        ours=partial(_logged_by_us, conn, state.ref),
    )
    return _context(state, facts, default_zone)


def load_many(
    conn: Connection, states: Sequence[ContactState], *, default_zone: str | None = None
) -> list[ContactContext]:
    """`load` of many recipients (a page of due contacts), in their order: a query per
    input for the whole page, not a round trip per contact (issue #21). The contexts are
    read before any of them is acted on, so the caller must not plan two recipients that
    share a number, or a record, in one call (`PlaysPlanner` cuts its pages there)."""
    if not states:
        return []
    phones = sorted({state.phone for state in states if state.phone})
    refs = list(dict.fromkeys(state.ref for state in states))
    histories = consent.histories(conn, phones)
    live = sms_outbox.live_to_many(conn, phones)
    inbound = messages.last_inbound_of(conn, phones)
    landlines = sms_outbox.failed_with_any(conn, phones, LANDLINE_ERROR)
    clicks = links.last_counted_of(conn, refs)
    tasks = set(sla.open_timers_of(conn, refs)) | crm_outbox.queued_for_many(conn, refs, "task")
    writes = _own_writes(conn, states)
    contexts: list[ContactContext] = []
    for state in states:
        phone = state.phone
        facts = _Facts(
            history=histories.get(phone, []) if phone else [],
            sends=tuple(_sent(x) for x in live.get(phone, ())) if phone else (),
            last_inbound_at=inbound.get(phone) if phone else None,
            landline=phone in landlines,
            last_click_at=clicks.get(state.ref),
            open_task=state.ref in tasks,
            ours=partial(_written_in, writes.get(state.ref, ())),
        )
        contexts.append(_context(state, facts, default_zone))
    return contexts


def _own_writes(
    conn: Connection, states: Sequence[ContactState]
) -> dict[CrmRef, list[tuple[datetime, datetime | None]]]:
    """smsync's own writes that could explain these records' last activity: one read over
    the span of every record's windows, each record's narrowed by `_written_in`."""
    spans: list[datetime] = []
    refs: list[CrmRef] = []
    for state in states:
        raw = state.segments.get(LAST_ACTIVITY)
        at = parse_instant(raw)
        if at is None:
            continue
        queued, done = _own_windows(at, is_date_only(raw))
        spans += [queued[0], queued[1], done[0], done[1]]
        refs.append(state.ref)
    if not refs:
        return {}
    return crm_outbox.written_within(conn, refs, OWN_WRITES, (min(spans), max(spans)))


def find_contact(conn: Connection, crm_id: str) -> ContactState | None:
    """The stored record with this CRM id, whatever its object type (ids are unique
    across objects in both CRMs); None when the connector has not pulled it."""
    kind = contacts.object_type_of(conn, crm_id)
    return None if kind is None else contacts.get(conn, CrmRef(kind, crm_id))
