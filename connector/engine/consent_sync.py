"""Keep every CRM record sharing a number in line with the number's consent ledger.

The ledger (phone-keyed, append-only) decides; the records' consent fields follow it. A
new consent event writes the fields to every record holding the number; a pull writes
them only to the records that disagree (`consent.corrections`), which is what makes the
opt-out invariant hold after the next cycle.

The fields show the ledger's CRM view (`consent.crm_view`): the CRM keeps one consent
field, which means "opted out of marketing, or of everything". An opt-out of every purpose
or of marketing is written; one of another purpose alone (revocation_scope: purpose)
changes no field and lives in the ledger and `smsync explain`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.domain import consent as rules
from connector.domain.model import ConsentRecord, ConsentStatus, ContactState, CrmRef, CrmWrite
from connector.engine import outbox
from connector.engine.crm_records import consent_id
from connector.ports import Connection
from connector.store import consent, contacts


def _key(entry: ConsentRecord) -> str:
    # one write per ledger decision and record: a replay or a second pull is one row
    return entry.evidence_sid or f"{entry.source.value}@{int(entry.at.timestamp())}"


def record_event(
    conn: Connection,
    entry: ConsentRecord,
    now: datetime,
    *,
    also: Iterable[CrmRef] = (),
) -> int:
    """Append `entry` and write the ledger's verdict to every record sharing the number
    (local records plus `also`, records the CRM named that are not pulled yet). Returns
    the CRM writes queued."""
    consent.append(conn, entry, now)
    history = consent.history(conn, entry.phone)
    decided = rules.crm_view(history)
    if decided is None:
        return 0
    contacts.set_consent_for_phone(conn, entry.phone, decided.status, now)
    refs = [s.ref for s in contacts.find_by_phone(conn, entry.phone)]
    refs.extend(r for r in also if r not in refs)
    return outbox.put_many(conn, _verdict_writes(decided, refs), now)


def _verdict_writes(decided: ConsentRecord, refs: Iterable[CrmRef]) -> list[CrmWrite]:
    """The ledger's verdict written to each record: one external id per decision and
    record, so a replay or a second pull is one row."""
    fields = rules.fields_for(decided)
    return [
        CrmWrite("field_update", consent_id(_key(decided), ref), ref, dict(fields)) for ref in refs
    ]


def correct(conn: Connection, phone: str, now: datetime) -> int:
    """Queue consent writes for the records of `phone` that disagree with its ledger."""
    history = consent.history(conn, phone)
    return outbox.put_many(conn, _corrections(history, contacts.find_by_phone(conn, phone)), now)


def _corrections(
    history: Sequence[ConsentRecord], states: Sequence[ContactState]
) -> list[CrmWrite]:
    decided = rules.crm_view(history)
    if decided is None:
        return []
    return [
        CrmWrite("field_update", consent_id(_key(decided), ref), ref, fields)
        for ref, fields in rules.corrections(history, states)
    ]


@dataclass
class Pulled:
    """What the CRM's consent fields of a batch of pulled records changed."""

    events: int = 0  # entries appended to the ledger
    writes: int = 0  # CRM writes queued


def apply_pulled(
    conn: Connection,
    states: Sequence[ContactState],
    histories: Mapping[str, Sequence[ConsentRecord]],
    now: datetime,
) -> Pulled:
    """The consent fields of freshly persisted records, set-based: what `record_event` (for
    a field the ledger does not hold yet) then `correct` (for a number with a ledger) do
    record by record, in a few statements for the whole batch. `states` are live records
    with a number, each number at most once (`pull.segments`); `histories` their numbers'
    ledgers as read before (a number with no entry absent)."""
    events: dict[str, ConsentRecord] = {}
    for state in states:
        assert state.phone is not None
        if state.consent is ConsentStatus.UNKNOWN:
            continue
        decision = rules.decide_crm_consent(
            histories.get(state.phone, ()),
            state.consent,
            None,
            None,
            phone=state.phone,
            observed_at=now,
            evidence_text=f"CRM field on {state.ref}",
        )
        if decision.record is not None:
            events[state.phone] = decision.record
    consent.append_many(conn, list(events.values()), now)
    after = consent.histories(conn, events)  # the moved ledgers, as `record_event` reads them
    decided = {phone: view for phone in events if (view := rules.crm_view(after[phone]))}
    contacts.set_consent_for_phones(conn, {p: v.status for p, v in decided.items()}, now)
    ledgered = [s.phone for s in states if s.phone in events or histories.get(s.phone or "")]
    records = contacts.find_by_phones(conn, (p for p in ledgered if p is not None))
    writes: list[CrmWrite] = []
    for phone in ledgered:
        assert phone is not None
        held = records.get(phone, [])
        view = decided.get(phone)
        if view is not None:  # the event's write to every record holding the number
            writes.extend(_verdict_writes(view, (s.ref for s in held)))
        writes.extend(_corrections(after.get(phone) or histories[phone], held))
    return Pulled(events=len(events), writes=outbox.put_many(conn, writes, now))
