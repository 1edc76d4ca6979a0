"""Issue 15 part 4 on both CRMs against the sandbox: random sequences of replies, rep actions
(the follow-up task completed in the CRM, a text back from the CRM through the `rep_send`
job, an edit to the record), sweeps at later times and full cycles; after every step's
writeback, the fields smsync keeps on each record, read back from the CRM, equal what the
store says: disposition, journey state, active motion, and the SLA due time and breach
flag of the record's latest timer.

`make test` runs a modest number of sequences per CRM; `scripts/crm_fields_property.py`
(or SMSYNC_FIELDS_EXAMPLES) runs thousands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.crm.hubspot.mapping import parse_stamp
from connector.crm.salesforce.mapping import parse_datetime
from connector.demo.crm_admin import CrmAdmin
from connector.demo.reps import text_back
from connector.domain.model import ContactState
from connector.engine import ingest, pull, rep_send, sweep
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.sandbox.server import Sandbox
from connector.store import contacts, inbox, sla
from connector.store.tables import crm_outbox
from tests.integration.plays_kit import World, make_world

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays" / "scenario.yaml"
# Tuesday 09:00 in New York, years back: the sweeps move the sandbox clock on by up to
# 30 hours each, and it must stay behind the real clock, which signs the Salesforce JWT
# assertion the sandbox checks (thousands of sequences move it on by about two years)
START = datetime(2023, 1, 3, 14, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("SMSYNC_FIELDS_EXAMPLES", "25"))  # per CRM
PEOPLE = 4
REPLIES = (
    "How much does it cost?",  # pricing_question: task and SLA
    "Sounds good, tell me more",  # interested: task and SLA
    "not now, maybe next quarter",  # not_now: no task
    "Wrong number, who is this",  # wrong_number: ends the motion
    "STOP",  # opt-out: journey closed
)

Step = tuple[str, int, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("reply"), st.integers(0, PEOPLE - 1), st.integers(0, len(REPLIES) - 1)),
        st.tuples(st.just("complete"), st.integers(0, PEOPLE - 1), st.just(0)),
        st.tuples(st.just("sweep"), st.just(0), st.integers(1, 30)),  # hours later
        st.tuples(st.just("pull"), st.integers(0, PEOPLE - 1), st.just(0)),
        st.tuples(st.just("text_back"), st.integers(0, PEOPLE - 1), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


class Run:
    """One CRM's world across examples: the clock only moves forward, and every example
    starts from whatever the earlier ones left (the property holds in any state)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.now = START
        self.people = [world.person() for _ in range(PEOPLE)]
        self.sid = 0
        self.steps = 0
        self.rep = CrmAdmin(world.vendor, world.sandbox)

    def at(self, when: datetime) -> None:
        self.now = when
        self.world.at(when)

    def tick(self) -> None:
        self.at(self.now + timedelta(seconds=7))

    def reply(self, who: int, text: str) -> None:
        person = self.people[who]
        assert person.phone
        self.sid += 1
        sid = f"SMprop{self.world.vendor[:2]}{self.sid:06d}"
        payload = {
            "source": "webhook",
            "sid": sid,
            "from": person.phone,
            "to": "+15005550006",
            "body": text,
            "at": self.now.isoformat(),
            "opt_out_type": None,
        }
        with self.world.ctx.store.begin() as conn:
            inbox.insert_if_new(conn, sid, "inbound", payload, self.now)
        report = ingest.run(self.world.ctx)
        assert report.failed == 0

    def complete(self, who: int) -> None:
        """The rep closes the record's latest follow-up task in the CRM, if it has one."""
        ref = self.people[who].ref
        with self.world.ctx.store.begin() as conn:
            timers = sla.for_contact(conn, ref)
        if not timers or not timers[-1].source_sid:
            return
        tasks = self.world.ctx.mapping.tasks
        found = self.world.sandbox.emulators[self.world.vendor].find(
            tasks.object, tasks.external_id_field, f"task:{timers[-1].source_sid}:follow_up"
        )
        if not found:
            return
        (row,) = found
        sf = self.world.vendor == "salesforce"
        task_id = row["Id"] if sf else row["properties"]["hs_object_id"]
        self.world.case.change_field(
            tasks.object,
            str(task_id),
            "Status" if sf else "hs_task_status",
            tasks.status.done,
        )

    def text_back(self, who: int) -> None:
        """The record's owner texts the person from the CRM; the rep_send job sends it
        (or refuses it: opted out, quiet hours) and writes the outcome back."""
        person = self.people[who]
        cfg = self.world.ctx.mapping.rep_send
        assert cfg is not None
        assert person.owner_id
        text_back(self.rep, cfg, person.ref, person.owner_id, "Happy to help, when suits?")
        rep_send.run(self.world.ctx)

    def drain(self) -> None:
        ctx = self.world.ctx
        policy = WritebackPolicy(lease_s=ctx.settings.writeback_lease_s, max_attempts=3)
        Writeback(ctx.store, ctx.crm, ctx.clock, ctx.settings.crm, ctx.worker_id, policy).drain()
        # escalation tasks may name a team lead the sandbox org lacks; field writes never fail
        with ctx.store.begin() as conn:
            failed = conn.execute(
                sa.select(crm_outbox.c.external_id, crm_outbox.c.last_error).where(
                    crm_outbox.c.external_id.like("fields:%"),
                    crm_outbox.c.state.in_(("failed", "dead")),
                )
            ).all()
        assert failed == []

    def step(self, kind: str, who: int, arg: int) -> None:
        self.tick()
        if kind == "reply":
            self.reply(who, REPLIES[arg])
        elif kind == "complete":
            self.complete(who)
        elif kind == "text_back":
            self.text_back(who)
        elif kind == "sweep":
            self.at(self.now + timedelta(hours=arg))
            sweep.run(self.world.ctx)
        else:
            pull.run(self.world.ctx)
        self.drain()
        self.steps += 1

    def check(self) -> None:
        for person in self.people:
            with self.world.ctx.store.begin() as conn:
                state = contacts.get(conn, person.ref)
                timers = sla.for_contact(conn, person.ref)
            assert state is not None
            crm = crm_fields(self.world, state)
            assert crm["disposition"] == state.disposition, person.ref
            assert crm["journey_state"] == state.journey_state, person.ref
            assert crm["active_motion"] == state.active_motion, person.ref
            if not timers:
                continue
            latest = timers[-1].timer
            due = latest.due if latest.met is None else None
            breached = latest.breached is not None and latest.met is None
            assert (crm["sla_due"], crm["sla_breached"]) == (due, breached), (person.ref, latest)


def crm_fields(world: World, state: ContactState) -> dict[str, Any]:
    """The kept fields as a rep reads them on the record, in canonical values."""
    m = world.ctx.mapping
    fmap = m.field_map(state.ref.object_type)
    emulator = world.sandbox.emulators[world.vendor]
    sf = world.vendor == "salesforce"
    (row,) = emulator.find(state.ref.object_type, "Id" if sf else "hs_object_id", state.ref.id)
    values: dict[str, Any] = row if sf else row["properties"]

    def raw(name: str | None) -> Any:
        value = values.get(name) if name else None
        return None if value in ("", None) else value

    def canonical(kind: str, name: str | None) -> str | None:
        value = raw(name)
        return None if value is None else m.to_canonical(kind, str(value))

    due = raw(fmap.sla_due)
    parsed = parse_datetime(due) if sf else parse_stamp(due)
    return {
        "disposition": canonical("disposition", fmap.disposition),
        "journey_state": canonical("journey_state", fmap.journey_state),
        "active_motion": raw(fmap.active_motion),
        "sla_due": parsed.replace(microsecond=0) if parsed else None,
        "sla_breached": str(raw(fmap.sla_breached)).lower() == "true",
    }


@pytest.mark.timeout(120 + 3 * EXAMPLES)  # one test runs every sequence of its CRM
@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_crm_fields_always_equal_the_store(vendor: str, sandbox: Sandbox, tmp_path: Path) -> None:
    with make_world(vendor, sandbox, tmp_path, PLAYS, seeded_at=START, start=START) as world:
        run = Run(world)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(steps)
        def sequences(seq: list[Step]) -> None:
            for kind, who, arg in seq:
                run.step(kind, who, arg)
                run.check()

        sequences()
        assert run.steps >= EXAMPLES  # every sequence ran, each at least one step
