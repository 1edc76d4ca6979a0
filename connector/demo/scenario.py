"""The simulated business day: a Tuesday in New York on the sandbox clock, from the first
sync at 07:30 to the next morning.

Every event goes in through a real interface: CRM edits through the vendor's REST API,
replies through the Twilio emulator's handset (which signs and delivers the webhooks to
the demo's webhook app), status callbacks through the emulator's network tick. After each
event the `smsync run` job bodies run in data-flow order. Who does what is picked from the
seeded records in a fixed order, so a run with the same options tells the same story."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa

from connector.demo import reps
from connector.demo.clicks import click_through
from connector.demo.crm_admin import CrmAdmin
from connector.demo.world import World
from connector.domain.governance import number_facts
from connector.domain.template_values import MEETING
from connector.store import tables as tb

NY = ZoneInfo("America/New_York")
DAY = datetime(2026, 3, 3, tzinfo=NY)  # a Tuesday (EST), well clear of DST and holidays


def local(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return (DAY + timedelta(days=days)).replace(hour=hour, minute=minute).astimezone(UTC)


START = local(7, 0)
QUALIFIED = "mql"  # the stage the example speed_to_lead play enters on
EARLY_STAGES = ("subscriber", "lead", None)
# What texted people answer, in turn: every disposition the mappings classify, and opt-outs
# in their own words (Twilio's built-in handling catches only the one-word STOP).
REPLIES: tuple[str, ...] = (
    "Sounds interesting, tell me more",
    "How much does it cost?",
    "STOP",
    "Can we reschedule please?",
    "not now, maybe next quarter",
    "Wrong number, who is this?",
    "I'm interested, call me",
    "Yes",
    "what's the pricing for 20 seats?",
    "please stop texting me",
)
# What a meeting confirmation ("Reply YES to confirm") gets back.
CONFIRM = "YES"
# People who were never texted write in too: opt-outs in any wording, and HELP.
# One asks for a call: a task and an SLA that no play's text prompted, for the reps.
ASKING = "Saw your ad, I'm interested. Can someone call me?"
UNPROMPTED: tuple[str, ...] = (
    "please stop texting me",
    "No me envíes más mensajes",
    "STPO",
    "help please",
    "STOP",
    ASKING,
)
MEETING_PLAY = "meeting_confirmation"
UNKNOWN_NUMBERS = ("+12025550143", "+12025550187", "+13125550123", "+14155550199")


@dataclass(frozen=True, slots=True)
class Person:
    object_type: str
    crm_id: str
    phone: str
    stage: str | None
    journey: str | None


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    title: str
    act: Callable[[Callable[[int], None]], int]  # does the step; returns how many items


class Day:
    """The steps of the day over one world. `steps()` lists them; each runs its events
    then the jobs. `progress(n)` is called as items (edits, replies) are done."""

    def __init__(self, world: World, contacts: int) -> None:
        self.world = world
        self.admin = CrmAdmin(world.crm, world.sandbox)
        self.contacts = contacts
        self.people: list[Person] = []
        self.stopped: list[Person] = []
        self.consent_baseline = 0

    # the story -------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        return [
            Step(local(7, 30), "07:30 first sync of the CRM", self.first_sync),
            Step(local(7, 45), "07:45 early stage changes (quiet hours)", self.early_stages),
            Step(local(10, 0), "10:00 stage changes and meetings booked", self.morning),
            Step(local(10, 3), "10:03 plays send, carriers report back", self.send_and_tick),
            Step(local(10, 20), "10:20 prospects open the pricing link", self.clicks),
            Step(local(10, 30), "10:30 replies arrive", self.replies),
            Step(local(11, 0), "11:00 later plays for people who said STOP", self.after_stop),
            Step(local(11, 15), "11:15 reps text back from the CRM", self.reps_on_time),
            Step(local(13, 0), "13:00 midday cycle", self.cycle),
            Step(local(17, 45), "17:45 SLA sweep: unanswered replies breach", self.cycle),
            Step(local(18, 0), "18:00 reps text back late (SLA breached)", self.reps_late),
            Step(local(22, 0), "22:00 late changes (deferred or dropped)", self.late),
            Step(local(22, 3), "22:03 west-coast texts go out", self.send_and_tick),
            Step(local(8, 5, days=1), "08:05 next day: deferred texts go out", self.send_and_tick),
        ]

    def first_sync(self, progress: Callable[[int], None]) -> int:
        self.world.run()
        self.people = self._people()
        with self.world.store.begin() as conn:
            self.consent_baseline = _count(conn, tb.consent_ledger)
        progress(len(self.people))
        return len(self.people)

    def early_stages(self, progress: Callable[[int], None]) -> int:
        chosen = self._pick(self._stageable(), 0, 0.08)
        done = self._set_stage(chosen, QUALIFIED, progress)
        self._pull_and_cycle()
        return done

    def morning(self, progress: Callable[[int], None]) -> int:
        staged = self._pick(self._stageable(), 0.08, 0.45)
        booked = self._pick(self._bookable(), 0.0, 0.10)
        done = self._set_stage(staged, QUALIFIED, progress)
        done += self._book(booked, local(15, 0), progress)  # reminders go at 13:00
        self._pull_and_cycle()
        return done

    def send_and_tick(self, progress: Callable[[int], None]) -> int:
        self.world.run()
        ticked = self._tick(10.0)
        self.world.run()
        progress(ticked)
        return ticked

    def clicks(self, progress: Callable[[int], None]) -> int:
        return click_through(self.world, progress)

    def replies(self, progress: Callable[[int], None]) -> int:
        texted = self._texted()
        booked = [p for p, plays in texted if MEETING_PLAY in plays]
        others = [p for p, plays in texted if MEETING_PLAY not in plays]
        answering = others[: max(1, (len(others) * 3) // 5)]
        sent = 0
        for person in booked:  # meeting confirmations are confirmed: the play converts
            self._inbound(person.phone, CONFIRM)
            sent += 1
            progress(1)
        for i, person in enumerate(answering):
            body = REPLIES[i % len(REPLIES)]
            self._inbound(person.phone, body)
            if "stop" in body.lower():
                self.stopped.append(person)
            sent += 1
            progress(1)
        busy = {p.crm_id for p, _ in texted} | {p.crm_id for p in self.stopped}
        quiet = [p for p in self.people if p.crm_id not in busy and self._mobile(p.phone)]
        for i, person in enumerate(quiet[: max(len(UNPROMPTED), self.contacts // 50)]):
            body = UNPROMPTED[i % len(UNPROMPTED)]
            self._inbound(person.phone, body)
            if not body.startswith("help") and body != ASKING:
                self.stopped.append(person)
            sent += 1
            progress(1)
        for number in UNKNOWN_NUMBERS[: max(1, min(len(UNKNOWN_NUMBERS), self.contacts // 100))]:
            self._inbound(number, "Hi, I'm interested, who do I talk to?")
            sent += 1
            progress(1)
        self.world.run()
        self.world.run("send")  # HELP answers and opt-out confirmations, within 5 minutes
        return sent

    def after_stop(self, progress: Callable[[int], None]) -> int:
        targets = [p for p in self.stopped if p.journey != "meeting_booked"]
        done = self._book(targets, local(16, 0), progress)
        self._pull_and_cycle()
        return done

    def reps_on_time(self, progress: Callable[[int], None]) -> int:
        return self._reps(breached=False, progress=progress)

    def reps_late(self, progress: Callable[[int], None]) -> int:
        return self._reps(breached=True, progress=progress)

    def _reps(self, *, breached: bool, progress: Callable[[int], None]) -> int:
        """Reps answer from the CRM (`connector/demo/reps.py`): a third of the waiting
        replies in time, the rest left to breach at 17:45; half of those late."""
        cfg = self.world.mapping.rep_send
        if cfg is None:
            return 0
        waiting = reps.waiting(self.world.store, breached=breached)
        share = (len(waiting) + 1) // 2 if breached else max(1, len(waiting) // 3)
        desk = reps.RepDesk(self.admin, cfg, reps.owners_in(self.world.store))
        done = desk.answer(waiting[:share], int(self.world.now.timestamp() * 1000))
        progress(done)
        self._pull_and_cycle()
        return done

    def cycle(self, progress: Callable[[int], None]) -> int:
        self._tick(0.0)
        self.world.run()
        progress(1)
        return 1

    def late(self, progress: Callable[[int], None]) -> int:
        staged = self._pick(self._stageable(), 0.45, 0.60)
        booked = self._pick(self._bookable(), 0.10, 0.16)
        done = self._set_stage(staged, QUALIFIED, progress)
        done += self._book(booked, local(11, 0, days=1), progress)
        self._pull_and_cycle()
        return done

    # helpers ---------------------------------------------------------------------------

    def _pull_and_cycle(self) -> None:
        self.world.sandbox.state.clock.advance(1)  # edits strictly before the pull reads
        self.world.run()

    def _people(self) -> list[Person]:
        """Records with a usable number, one per number (a shared number is one handset)."""
        t = tb.contact_state
        with self.world.store.begin() as conn:
            rows = conn.execute(
                sa.select(
                    t.c.crm_object_type,
                    t.c.crm_id,
                    t.c.phone,
                    t.c.lifecycle_stage,
                    t.c.journey_state,
                )
                .where(t.c.phone.is_not(None), t.c.deleted.is_(False))
                .order_by(t.c.id)
            ).all()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.phone] = counts.get(row.phone, 0) + 1
        return [
            Person(r.crm_object_type, r.crm_id, r.phone, r.lifecycle_stage, r.journey_state)
            for r in rows
            if counts[r.phone] == 1
        ]

    def _mobile(self, phone: str) -> bool:
        """A number a person can text from: valid, and no landline (by the numbering plan
        or the carrier)."""
        facts = number_facts(phone)
        twilio = self.world.sandbox.emulators["twilio"]
        numbers = getattr(twilio, "numbers", None)
        landline = numbers is not None and numbers.is_landline(phone)
        return facts.valid and not facts.landline and not landline

    def _stageable(self) -> list[Person]:
        """People early in the funnel whose stage field takes "mql" (Salesforce Leads use
        Lead Status, which has no such value)."""
        return [
            p
            for p in sorted(self.people, key=lambda p: p.crm_id)
            if p.object_type in ("Contact", "contacts") and p.stage in EARLY_STAGES
        ]

    def _bookable(self) -> list[Person]:
        return [
            p
            for p in sorted(self.people, key=lambda p: (p.phone, p.crm_id))
            if p.journey != "meeting_booked"
        ]

    @staticmethod
    def _pick(pool: Sequence[Person], start: float, end: float) -> list[Person]:
        return list(pool[int(len(pool) * start) : int(len(pool) * end)])

    def _set_stage(self, people: Iterable[Person], stage: str, step: Callable[[int], None]) -> int:
        return self._set(people, "lifecycle_stage", stage, step)

    def _book(self, people: Iterable[Person], starts: datetime, step: Callable[[int], None]) -> int:
        """A rep books a meeting: the journey and the meeting's start, in one edit."""
        mapping = self.world.mapping
        done = 0
        for person in people:
            fields = mapping.field_map(person.object_type)
            values: dict[str, object] = {
                str(fields.journey_state): mapping.to_crm("journey_state", "meeting_booked")
            }
            meeting_field = fields.segments.get(MEETING)
            if meeting_field:
                values[meeting_field] = starts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            self.admin.edit(person.object_type, person.crm_id, values)
            done += 1
            step(1)
        return done

    def _set(
        self, people: Iterable[Person], canonical: str, value: str, step: Callable[[int], None]
    ) -> int:
        mapping = self.world.mapping
        done = 0
        for person in people:
            crm_field = getattr(mapping.field_map(person.object_type), canonical)
            self.admin.edit(
                person.object_type, person.crm_id, {crm_field: mapping.to_crm(canonical, value)}
            )
            done += 1
            step(1)
        return done

    def _texted(self) -> list[tuple[Person, set[str]]]:
        """People a play texted, in the order they were texted, with the plays."""
        t = tb.sms_outbox
        with self.world.store.begin() as conn:
            rows = conn.execute(
                sa.select(t.c.contact_id, t.c.play).where(t.c.state == "sent").order_by(t.c.id)
            ).all()
        plays: dict[str, set[str]] = {}
        for crm_id, play in rows:
            plays.setdefault(crm_id, set()).add(play or "")
        by_id = {p.crm_id: p for p in self.people}
        return [(by_id[i], found) for i, found in plays.items() if i in by_id]

    def _admin(self, path: str, body: dict[str, object]) -> dict[str, object]:
        r = requests.post(f"{self.world.sandbox.urls['admin']}{path}", json=body, timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"demo: sandbox {path} answered {r.status_code}: {r.text[:300]}")
        out: dict[str, object] = r.json()
        return out

    def _inbound(self, phone: str, body: str) -> None:
        """A person texts the business number; the emulator signs and delivers it."""
        answer = self._admin("/__sandbox/twilio/inbound", {"from": phone, "body": body})
        deliveries = answer.get("deliveries")
        if not isinstance(deliveries, list) or not any(
            isinstance(d, dict) and d.get("status_code") == 200 for d in deliveries
        ):
            raise RuntimeError(
                f"demo: the webhook app did not accept an inbound text: {deliveries}"
            )

    def _tick(self, advance_s: float) -> int:
        """The carrier network moves on; status callbacks reach the webhook app."""
        answer = self._admin("/__sandbox/twilio/tick", {"advance_s": advance_s})
        transitions = answer.get("transitions")
        return len(transitions) if isinstance(transitions, list) else 0


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
