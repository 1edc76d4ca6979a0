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

from collections.abc import Iterable
from datetime import datetime

from connector.domain import consent as rules
from connector.domain.model import ConsentRecord, CrmRef, CrmWrite
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
    fields = rules.fields_for(decided)
    queued = 0
    for ref in refs:
        write = CrmWrite("field_update", consent_id(_key(decided), ref), ref, dict(fields))
        queued += int(outbox.put(conn, write, now))
    return queued


def correct(conn: Connection, phone: str, now: datetime) -> int:
    """Queue consent writes for the records of `phone` that disagree with its ledger."""
    history = consent.history(conn, phone)
    decided = rules.crm_view(history)
    if decided is None:
        return 0
    queued = 0
    for ref, fields in rules.corrections(history, contacts.find_by_phone(conn, phone)):
        write = CrmWrite("field_update", consent_id(_key(decided), ref), ref, fields)
        queued += int(outbox.put(conn, write, now))
    return queued
