"""The pull applies the consent its records show set-based (`consent_sync.apply_pulled`,
issue #21); it must leave the ledger (hash chain included), the records' consent and the
CRM outbox exactly as the record-by-record path did (`record_event` for a field the
ledger does not hold, then `correct`), on SQLite and Postgres.

Each path runs from the same committed store in a transaction that is rolled back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.domain import consent as rules
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
)
from connector.engine import consent_sync
from connector.store import SqlStore, consent, contacts
from connector.store import tables as tb

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
OUT, IN, UNKNOWN = ConsentStatus.OPTED_OUT, ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN


def _state(kind: str, i: int, phone: str | None, status: ConsentStatus) -> ContactState:
    return ContactState(CrmRef(kind, f"{kind[:3]}{i:012d}"), phone, consent=status)


def _entry(phone: str, status: ConsentStatus, source: ConsentSource, at: datetime) -> ConsentRecord:
    return ConsentRecord(phone, status, ConsentScope.MESSAGING_SERVICE, source, at)


# the pulled segment: each number once, as `pull.segments` cuts it
PULLED = [
    _state("Contact", 1, "+12125550001", OUT),  # no ledger: an event, written to the record
    _state("Contact", 2, "+12125550002", OUT),  # ledger already out; its Lead twin disagrees
    _state("Contact", 3, "+12125550003", IN),  # a bare opt-in cannot lift a ledger opt-out
    _state("Contact", 4, "+12125550004", UNKNOWN),  # ledger in by keyword; twin disagrees
    _state("Contact", 5, "+12125550005", OUT),  # out, in by keyword, now out again: an event
    _state("Contact", 6, "+12125550006", OUT),  # an event written to both records of the number
    _state("Contact", 7, "+12125550007", UNKNOWN),  # nothing known: nothing happens
    _state("Contact", 8, "+12125550008", IN),  # a bare opt-in, no ledger: nothing appended
]
ELSEWHERE = [  # records pulled before, sharing numbers with the segment
    _state("Lead", 2, "+12125550002", IN),
    _state("Lead", 4, "+12125550004", OUT),
    _state("Lead", 6, "+12125550006", UNKNOWN),
]
LEDGER = [
    _entry("+12125550002", OUT, ConsentSource.CRM, NOW - timedelta(days=9)),
    _entry("+12125550003", OUT, ConsentSource.KEYWORD, NOW - timedelta(days=8)),
    _entry("+12125550004", IN, ConsentSource.KEYWORD, NOW - timedelta(days=7)),
    _entry("+12125550005", OUT, ConsentSource.KEYWORD, NOW - timedelta(days=6)),
    _entry("+12125550005", IN, ConsentSource.KEYWORD, NOW - timedelta(days=5)),
]


def _seed(store: SqlStore) -> None:
    with store.begin() as conn:
        contacts.upsert_many(conn, ELSEWHERE, NOW - timedelta(days=1))
        for entry in LEDGER:
            consent.append(conn, entry, NOW - timedelta(days=1))
        # one correction already queued: the same one again is folded in, adding nothing
        consent_sync.correct(conn, "+12125550004", NOW - timedelta(hours=1))
        contacts.upsert_many(conn, PULLED, NOW)  # `pull.persist`, before the consent


def _one_by_one(conn: sa.Connection, states: Sequence[ContactState]) -> tuple[int, int]:
    """What pull.py did per record before the set-based path."""
    histories = consent.histories(conn, (s.phone for s in states if s.phone))
    events = writes = 0
    for state in states:
        assert state.phone is not None
        history: list[ConsentRecord] | None = histories.get(state.phone, [])
        if state.consent is not UNKNOWN:
            decision = rules.decide_crm_consent(
                history or [],
                state.consent,
                None,
                None,
                phone=state.phone,
                observed_at=NOW,
                evidence_text=f"CRM field on {state.ref}",
            )
            if decision.record is not None:
                events += 1
                writes += consent_sync.record_event(conn, decision.record, NOW)
                history = None
        if history is None or history:
            writes += consent_sync.correct(conn, state.phone, NOW)
    return events, writes


def _set_based(conn: sa.Connection, states: Sequence[ContactState]) -> tuple[int, int]:
    histories = consent.histories(conn, (s.phone for s in states if s.phone))
    pulled = consent_sync.apply_pulled(conn, states, histories, NOW)
    return pulled.events, pulled.writes


def _snapshot(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    ledger, cs, out = tb.consent_ledger, tb.contact_state, tb.crm_outbox
    return {
        "ledger": [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    ledger.c.phone,
                    ledger.c.status,
                    ledger.c.source,
                    ledger.c.at,
                    ledger.c.evidence_text,
                    ledger.c.prev_hash,
                    ledger.c.row_hash,
                ).order_by(ledger.c.id)
            )
        ],
        "records": [
            tuple(r)
            for r in conn.execute(
                sa.select(cs.c.crm_object_type, cs.c.crm_id, cs.c.consent).order_by(cs.c.id)
            )
        ],
        "outbox": [
            (r.external_id, r.target_type, r.target_id, r.fields, r.state)
            for r in conn.execute(sa.select(out).order_by(out.c.id))
        ],
    }


def _run(
    store: SqlStore, path: Callable[[sa.Connection, Sequence[ContactState]], tuple[int, int]]
) -> tuple[tuple[int, int], dict[str, list[tuple[Any, ...]]]]:
    with store.engine.connect() as conn:
        trans = conn.begin()
        try:
            counts = path(conn, PULLED)
            return counts, _snapshot(conn)
        finally:
            trans.rollback()


def test_set_based_consent_leaves_what_record_by_record_left(store: SqlStore) -> None:
    _seed(store)
    expected_counts, expected = _run(store, _one_by_one)
    counts, got = _run(store, _set_based)
    assert counts == expected_counts
    assert got == expected
    # the cases happened: three events (numbers 1, 5, 6), writes beyond them (corrections
    # of the Lead twins and of the bare opt-in), the queued correction folded, not doubled
    assert expected_counts[0] == 3
    assert expected_counts[1] >= 6
    ids = [row[0] for row in got["outbox"]]
    assert len(ids) == len(set(ids))
    targets = {(row[1], row[2]) for row in got["outbox"]}
    assert ("Lead", "Lea000000000006") in targets  # an event reaches the number's other record
    assert ("Contact", "Con000000000003") in targets  # a bare opt-in corrected back to out
    assert not any(t[1].endswith("0007") or t[1].endswith("0008") for t in targets)


def test_a_number_with_many_records_gets_one_write_each(store: SqlStore) -> None:
    """Five records of one number pulled in one segment would break the each-number-once
    rule; the pull cuts them apart, and each applied alone writes every record once."""
    twins = [replace(_state("Lead", 20 + i, "+12125550020", UNKNOWN)) for i in range(4)]
    with store.begin() as conn:
        contacts.upsert_many(conn, twins, NOW)
        out = _state("Contact", 20, "+12125550020", OUT)
        contacts.upsert_many(conn, [out], NOW)
        pulled = consent_sync.apply_pulled(conn, [out], {}, NOW)
    assert (pulled.events, pulled.writes) == (1, 5)
