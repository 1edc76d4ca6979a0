"""The CRM contract: pull, resolve, write, re-write (idempotent), partial failure, owners,
and the probe a paused writeback asks before it writes again.

Every adapter passes it unchanged against the sandbox, so the engine can trust any of
them the same way."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connector.crm.hubspot.owners import OWNERS_PAGE
from connector.crm.salesforce.client import OWNERS_CHUNK
from connector.domain.model import ConsentStatus, ContactState, CrmRef, CrmWrite
from connector.errors import AuthError
from connector.ports import Cursor
from connector.sandbox.faults import RecordErrorSpec
from tests.contract.adapters import CrmCase


def _pull_all(
    case: CrmCase, since: Cursor | None = None
) -> tuple[list[ContactState], Cursor | None]:
    states: list[ContactState] = []
    cursor = since
    for batch in case.crm.pull(since):
        states.extend(batch.contacts)
        cursor = batch.cursor or cursor
    return states, cursor


def test_pull_emits_every_person_once_in_canonical_form(crm_case: CrmCase) -> None:
    states, cursor = _pull_all(crm_case)
    refs = Counter(s.ref for s in states)
    assert len(refs) == crm_case.expected_people()
    assert max(refs.values()) == 1
    assert cursor is not None
    seeded = {c.phone_e164 for c in crm_case.seed.contacts if c.phone_e164}
    phones = {s.phone for s in states if s.phone}
    assert phones <= seeded  # E.164, never the raw spelling
    assert len(phones) == len(seeded)
    consents = Counter(s.consent for s in states)
    expected = Counter(ConsentStatus(c.consent) for c in crm_case.seed.contacts)
    assert consents == expected


def test_incremental_pull_sees_a_change_and_not_the_rest(crm_case: CrmCase) -> None:
    states, cursor = _pull_all(crm_case)
    assert cursor is not None
    target = states[3].ref
    crm_case.sandbox.state.clock.advance(5)
    field = "SMS_Active_Motion__c" if crm_case.vendor == "salesforce" else "smsync_active_motion"
    crm_case.change_field(target.object_type, target.id, field, "renewal")
    crm_case.sandbox.state.clock.advance(5)
    changed, _ = _pull_all(crm_case, cursor)
    by_ref = {s.ref: s for s in changed}
    assert target in by_ref
    assert by_ref[target].active_motion == "renewal"
    # the lookback may re-emit a few recent rows, never the whole table
    assert len(changed) < crm_case.expected_people() / 2


def test_resolve_by_phone_returns_every_record_sharing_the_number(crm_case: CrmCase) -> None:
    counts = Counter(c.phone_e164 for c in crm_case.seed.contacts if c.phone_e164)
    shared = next(phone for phone, n in counts.items() if n > 1)
    refs = crm_case.crm.find_by_phone(shared)
    assert len(refs) == counts[shared]
    assert len(set(refs)) == len(refs)
    spelled = f"({shared[2:5]}) {shared[5:8]}-{shared[8:]}"
    assert sorted(map(str, crm_case.crm.find_by_phone(spelled))) == sorted(map(str, refs))
    assert crm_case.crm.find_by_phone("+19995550100") == []


def _writes(case: CrmCase, target: CrmRef, sid: str) -> list[CrmWrite]:
    at = datetime(2026, 11, 2, 15, 4, tzinfo=UTC)
    return [
        CrmWrite(
            "activity",
            f"sms:{sid}",
            target,
            {
                "message_sid": sid,
                "direction": "inbound",
                "body": "Can we move it to Thursday?",
                "at": at,
                "status": "received",
                "phone": "+14155550123",
                "disposition": "reschedule_requested",
            },
        ),
        CrmWrite(
            "task",
            f"task:{sid}:follow_up",
            target,
            {
                "kind": "follow_up",
                "subject": "SMS reply (reschedule_requested)",
                "body": "Call back to reschedule.",
                "priority": "high",
                "status": "open",
            },
            owner_id=None,
            due=at + timedelta(hours=2),
        ),
        CrmWrite(
            "field_update",
            f"field:{target}:{sid}",
            target,
            {"disposition": "reschedule_requested", "journey_state": "engaged"},
        ),
    ]


def test_write_then_rewrite_is_idempotent(crm_case: CrmCase) -> None:
    states, _ = _pull_all(crm_case)
    target = states[0].ref
    sid = "SM" + "a" * 32
    writes = _writes(crm_case, target, sid)
    first = crm_case.crm.write(writes)
    assert [r.external_id for r in first] == [w.external_id for w in writes]
    assert all(r.ok for r in first), first
    assert first[0].created
    assert first[1].created
    assert crm_case.records_with_external_id(crm_case.activity_object, f"sms:{sid}") == 1
    assert crm_case.records_with_external_id(crm_case.task_object, f"task:{sid}:follow_up") == 1

    second = crm_case.crm.write(writes)
    assert all(r.ok for r in second), second
    assert not any(r.created for r in second)
    assert [r.crm_id for r in second[:2]] == [r.crm_id for r in first[:2]]
    assert crm_case.records_with_external_id(crm_case.activity_object, f"sms:{sid}") == 1
    assert crm_case.records_with_external_id(crm_case.task_object, f"task:{sid}:follow_up") == 1

    pulled, _ = _pull_all(crm_case)
    updated = next(s for s in pulled if s.ref == target)
    assert updated.disposition == "reschedule_requested"
    assert updated.journey_state == "engaged"


def test_partial_failure_fails_only_that_record(crm_case: CrmCase) -> None:
    states, _ = _pull_all(crm_case)
    writes = [
        w
        for i, s in enumerate(states[:6])
        for w in _writes(crm_case, s.ref, f"SM{i:032x}")
        if w.kind == "activity"
    ]
    bad = writes[2].external_id
    crm_case.sandbox.state.faults.set(
        crm_case.vendor,
        crm_case.sandbox.state.faults.get(crm_case.vendor).model_copy(
            update={"record_errors": {bad: RecordErrorSpec(code="FIELD_INTEGRITY_EXCEPTION")}}
        ),
    )
    results = crm_case.crm.write(writes)
    by_id = {r.external_id: r for r in results}
    assert not by_id[bad].ok
    assert by_id[bad].error_code
    assert [r.ok for r in results].count(True) == len(writes) - 1
    for w in writes:
        expected = 0 if w.external_id == bad else 1
        assert (
            crm_case.records_with_external_id(crm_case.activity_object, w.external_id) == expected
        )


# how a rep edits a task in each CRM's UI: (status field, done, open), (priority field, low)
_TASK_EDITS = {
    "salesforce": (("Status", "Completed", "Not Started"), ("Priority", "Low")),
    "hubspot": (("hs_task_status", "COMPLETED", "NOT_STARTED"), ("hs_task_priority", "LOW")),
}


def test_completed_tasks_reports_only_tasks_closed_in_the_crm(crm_case: CrmCase) -> None:
    """A rep closes one follow-up task in the CRM's own UI; the other stays open. Each
    closed task comes back with the CRM's completion time: the sandbox clock at the close,
    kept by a later edit, cleared by reopening and stamped anew by closing again."""
    states, _ = _pull_all(crm_case)
    closed_sid, open_sid = "SM" + "c" * 32, "SM" + "d" * 32
    tasks = [
        w
        for sid, state in ((closed_sid, states[0]), (open_sid, states[1]))
        for w in _writes(crm_case, state.ref, sid)
        if w.kind == "task"
    ]
    results = crm_case.crm.write(tasks)
    assert all(r.ok for r in results), results
    closed, still_open = (r.external_id for r in results)
    assert crm_case.crm.completed_tasks([closed, still_open]) == {}
    assert crm_case.task_completion(closed) is None

    crm_id = results[0].crm_id
    assert crm_id
    (status, done, reopened), (priority, low) = _TASK_EDITS[crm_case.vendor]

    def edit(field: str, value: str) -> None:
        crm_case.change_field(crm_case.task_object, crm_id, field, value)

    clock = crm_case.sandbox.state.clock
    # whole milliseconds (what both CRMs keep), ahead of every earlier write; seconds
    # apart, since the sandbox keeps the shift and a JWT login allows only 3 minutes
    written_done = (clock.now() + timedelta(seconds=2)).replace(microsecond=125_000)
    first_close = written_done + timedelta(seconds=1, milliseconds=125)
    second_close = first_close + timedelta(seconds=10)
    (created,) = (w for w in _writes(crm_case, states[2].ref, "SM" + "e" * 32) if w.kind == "task")
    created = replace(created, fields={**created.fields, "status": "done"})
    try:
        clock.set(written_done, freeze=True)  # a task created closed is completed at once
        assert all(r.ok for r in crm_case.crm.write([created]))
        answer = crm_case.crm.completed_tasks([created.external_id, closed])
        assert answer == {created.external_id: written_done}

        clock.set(first_close, freeze=True)
        edit(status, done)
        answer = crm_case.crm.completed_tasks([closed, still_open, "task:SMunknown:follow_up"])
        assert answer == {closed: first_close}

        clock.advance(1)  # editing a closed task, even re-saving its status, is no new close
        edit(priority, low)
        edit(status, done)
        assert crm_case.crm.completed_tasks([closed]) == {closed: first_close}

        clock.advance(1)
        edit(status, reopened)
        assert crm_case.crm.completed_tasks([closed, still_open]) == {}
        assert crm_case.task_completion(closed) is None

        clock.set(second_close, freeze=True)
        edit(status, done)
        assert crm_case.crm.completed_tasks([closed]) == {closed: second_close}
    finally:
        clock.unfreeze()
    assert crm_case.task_completion(still_open) is None
    assert crm_case.crm.completed_tasks([]) == {}


def test_owners_resolve_seeded_users_by_name_and_leave_out_unknown_ids(crm_case: CrmCase) -> None:
    seeded = crm_case.seeded_owners()
    assert len(seeded) == len(crm_case.seed.owners) > 1
    (unknown,) = crm_case.made_up_owner_ids(1)
    found = crm_case.crm.owners([*seeded, unknown, ""])
    assert set(found) == set(seeded)
    for owner_id, seed in seeded.items():
        owner = found[owner_id]
        assert owner.id == owner_id
        assert (owner.first_name, owner.last_name) == (seed.first_name, seed.last_name)
        assert owner.name == f"{seed.first_name} {seed.last_name}"
    one = next(iter(seeded))
    assert set(crm_case.crm.owners([one, one])) == {one}


def test_owners_of_no_ids_costs_no_api_call(crm_case: CrmCase) -> None:
    stats = crm_case.sandbox.state.stats
    before = stats.calls(crm_case.vendor)
    assert crm_case.crm.owners([]) == {}
    assert crm_case.crm.owners(["", ""]) == {}
    assert stats.calls(crm_case.vendor) == before


def test_owners_of_many_ids_are_asked_in_batches(crm_case: CrmCase) -> None:
    """250 ids: Salesforce sends one IN list per chunk; HubSpot pages its owner directory
    (a few seeded owners: one page) however many ids are asked."""
    seeded = crm_case.seeded_owners()
    ids = [*seeded, *crm_case.made_up_owner_ids(250 - len(seeded))]
    assert len(ids) == 250
    # a session the sandbox reset revoked costs one refused query; spend it elsewhere first
    crm_case.crm.completed_tasks(["task:SMwarmup:follow_up"])
    before = crm_case.owner_lookup_calls()
    found = crm_case.crm.owners(ids)
    assert set(found) == set(seeded)
    if crm_case.vendor == "salesforce":
        budget = math.ceil(250 / OWNERS_CHUNK)
    else:
        budget = math.ceil(len(seeded) / OWNERS_PAGE)
    assert 0 < crm_case.owner_lookup_calls() - before <= budget


def test_the_probe_follows_the_credentials_at_one_call_each(crm_case: CrmCase) -> None:
    stats = crm_case.sandbox.state.stats
    crm_case.crm.probe()  # logged in (or not) before the count
    before = stats.calls(crm_case.vendor)
    crm_case.crm.probe()
    assert stats.calls(crm_case.vendor) - before == 1
    crm_case.revoke()
    try:
        with pytest.raises(AuthError):
            crm_case.crm.probe()
    finally:
        crm_case.revoke(revoked=False)
    crm_case.crm.probe()  # back: writes may go again
