"""The demo's world after the reply: the fortnight that follows the business day.

Prospects book meetings (a rep records the booking on the record, as in the day), hold
them or do not show up; a held meeting becomes an opportunity created through the CRM's
REST API (Salesforce Opportunity with an OpportunityContactRole; HubSpot deal with a v4
contact association), which a rep moves through the mapping's stages (the sandbox records
the stage history as the vendor does: OpportunityHistory, `propertiesWithHistory`) until it
is won or lost. The connector's pull then reads it all back for `smsync report`.

Texts matter in this world by one parameter, `effect`: a contact smsync texted (a play's
text was sent by the end of the day) books a meeting with chance BASE_BOOK + effect, any
other contact in a play (its holdout arm, or blocked) with BASE_BOOK. Everything after the
booking (show, qualify, close) has the same chances for both, so the report's lift on
meetings held, opportunities and wins follows from `effect` alone, and is 0 in expectation
when `effect` is 0. Each contact's draws come from its own generator, seeded with the
world's seed and its CRM id, so a run with the same options tells the same story."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa

from connector.demo.crm_admin import SF_API, CrmAdmin
from connector.demo.scenario import CONFIRM, MEETING_PLAY, Step, local
from connector.demo.world import World
from connector.domain.template_values import MEETING
from connector.store import tables as tb

BASE_BOOK = 0.15  # a contact in a play books a meeting in the fortnight, text or not
DEFAULT_EFFECT = 0.35  # what a play's text adds to that chance, by default
SHOW = 0.75  # a booked meeting is held; the rest are no-shows
QUALIFY = 0.8  # a held meeting's opportunity reaches an opportunity stage
WIN, LOSE = 0.5, 0.35  # a qualified opportunity closes won, lost; the rest stay open
LINKABLE = ("Contact", "contacts")  # the records a contact role / deal association names


def check_effect(effect: float) -> float:
    """The effect keeps every booking chance a probability; ValueError saying so else."""
    low, high = -BASE_BOOK, 1.0 - BASE_BOOK
    if not low <= effect <= high:
        raise ValueError(
            f"--effect must be between {low:g} and {high:g} (the chance a text adds to a"
            f" {BASE_BOOK:g} chance of booking a meeting); got {effect:g}"
        )
    return effect


@dataclass
class Prospect:
    object_type: str
    crm_id: str
    owner_id: str | None
    phone: str | None
    journey: str | None
    exposed: bool  # texted by a play by the end of the day
    rng: random.Random
    booked: bool = False
    held: bool = False
    qualified: bool = False
    opportunity: str | None = None  # the CRM id of the opportunity or deal


class Funnel:
    """The steps after the day, over the same world. `steps()` lists them for the runner."""

    def __init__(self, world: World, admin: CrmAdmin, *, effect: float, seed: int) -> None:
        self.world = world
        self.admin = admin
        self.effect = check_effect(effect)
        self.seed = seed
        self.prospects: list[Prospect] = []
        pipeline = world.mapping.pipeline
        if pipeline is None:
            raise ValueError("the demo's mapping has no pipeline: section; the funnel needs one")
        self.pipeline = pipeline

    def steps(self) -> list[Step]:
        return [
            Step(local(10, 0, days=1), "day 2 10:00 prospects book meetings", self.book),
            Step(local(15, 0, days=2), "day 3 15:00 meetings held or missed", self.hold),
            Step(local(11, 0, days=6), "day 7 11:00 opportunities qualify", self.qualify),
            Step(local(16, 0, days=13), "day 14 16:00 deals close, won or lost", self.close),
        ]

    # the story -------------------------------------------------------------------------

    def book(self, progress: Callable[[int], None]) -> int:
        self.prospects = self._prospects()
        meeting_at = local(15, 0, days=2)
        for p in self.prospects:
            chance = BASE_BOOK + (self.effect if p.exposed else 0.0)
            p.booked = p.rng.random() < chance
            if p.booked and p.journey != "meeting_booked":
                self._record_booking(p, meeting_at)
            progress(1)
        self._pull_and_cycle()
        return len(self.prospects)

    def hold(self, progress: Callable[[int], None]) -> int:
        """Who shows up answers the meeting confirmation YES first (if smsync sent one);
        a held meeting is an opportunity at the first meeting-held stage."""
        stage = self._stage("meeting_held")
        confirmed = self._confirmations()
        done = 0
        for p in self.prospects:
            if not p.booked:
                continue
            p.held = p.rng.random() < SHOW
            if p.held and p.phone and p.crm_id in confirmed:
                self._reply(p.phone, CONFIRM)
        self.world.run()
        for p in self.prospects:
            if p.held:
                p.opportunity = self._create(p, stage)
                done += 1
                progress(1)
        self._pull_and_cycle()
        return done

    def qualify(self, progress: Callable[[int], None]) -> int:
        stage = self._stage("opportunity")
        done = 0
        for p in self.prospects:
            if p.opportunity is not None and p.rng.random() < QUALIFY:
                p.qualified = True
                self._move(p.opportunity, stage)
                done += 1
                progress(1)
        self._pull_and_cycle()
        return done

    def close(self, progress: Callable[[int], None]) -> int:
        won, lost = self._stage("won"), self._stage("lost")
        done = 0
        for p in self.prospects:
            if p.opportunity is None:
                continue
            draw = p.rng.random()
            if not p.qualified:
                self._move(p.opportunity, lost, closed=True)  # the meeting went nowhere
            elif draw < WIN:
                self._move(p.opportunity, won, closed=True)
            elif draw < WIN + LOSE:
                self._move(p.opportunity, lost, closed=True)
            else:
                continue
            done += 1
            progress(1)
        self._pull_and_cycle()
        return done

    # the people ------------------------------------------------------------------------

    def _prospects(self) -> list[Prospect]:
        """Contacts that a play decided on by now (texted, held out or blocked), that an
        opportunity can name; exposed if a play's text to them was sent."""
        cs, d, sms = tb.contact_state, tb.decision_log, tb.sms_outbox
        in_play = sa.select(d.c.contact_id).where(d.c.play.is_not(None)).distinct()
        texted = sa.select(sms.c.contact_id).where(sms.c.state == "sent", sms.c.play.is_not(None))
        with self.world.store.begin() as conn:
            exposed = set(conn.execute(texted).scalars())
            rows = conn.execute(
                sa.select(
                    cs.c.crm_object_type,
                    cs.c.crm_id,
                    cs.c.owner_id,
                    cs.c.phone,
                    cs.c.journey_state,
                )
                .where(
                    cs.c.crm_object_type.in_(LINKABLE),
                    cs.c.deleted.is_(False),
                    cs.c.crm_id.in_(in_play),
                )
                .order_by(cs.c.crm_id)
            ).all()
        return [
            Prospect(
                r.crm_object_type,
                r.crm_id,
                r.owner_id,
                r.phone,
                r.journey_state,
                r.crm_id in exposed,
                random.Random(f"funnel:{self.seed}:{r.crm_id}"),  # noqa: S311 (a story)
            )
            for r in rows
        ]

    def _confirmations(self) -> set[str]:
        """Contacts a meeting confirmation was sent to."""
        sms = tb.sms_outbox
        with self.world.store.begin() as conn:
            return set(
                conn.execute(
                    sa.select(sms.c.contact_id).where(
                        sms.c.state == "sent", sms.c.play == MEETING_PLAY
                    )
                ).scalars()
            )

    def _reply(self, phone: str, body: str) -> None:
        """The prospect texts the business number from the Twilio emulator's handset."""
        r = requests.post(
            f"{self.world.sandbox.urls['admin']}/__sandbox/twilio/inbound",
            json={"from": phone, "body": body},
            timeout=60,
        )
        if r.status_code != 200:
            raise RuntimeError(f"demo: the sandbox refused an inbound text: {r.status_code}")

    def _record_booking(self, p: Prospect, starts: datetime) -> None:
        """The rep records the booked meeting: the journey, the disposition and the
        meeting's start, in one edit."""
        mapping = self.world.mapping
        fields = mapping.field_map(p.object_type)
        values: dict[str, object] = {
            str(fields.journey_state): mapping.to_crm("journey_state", "meeting_booked")
        }
        booked = mapping.to_crm("disposition", "meeting_booked")
        if fields.disposition and booked:
            values[str(fields.disposition)] = booked
        meeting_field = fields.segments.get(MEETING)
        if meeting_field:
            values[meeting_field] = starts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.admin.edit(p.object_type, p.crm_id, values)

    # the CRM's pipeline, through its REST API -------------------------------------------

    def _stage(self, meaning: str) -> str:
        values: tuple[str, ...] = tuple(getattr(self.pipeline.stages, meaning))
        if not values:
            raise ValueError(f"the mapping's pipeline lists no {meaning} stage; the demo needs one")
        return values[0]

    def _create(self, p: Prospect, stage: str) -> str:
        now = self.world.now
        amount = float(p.rng.randrange(5, 80) * 1000)
        closes = now + timedelta(days=30)
        if self.world.crm == "salesforce":
            values: dict[str, Any] = {
                "Name": f"Demo deal {p.crm_id}",
                "StageName": stage,
                "Amount": amount,
                "CloseDate": closes.date().isoformat(),
            }
            if p.owner_id and p.owner_id.startswith("005"):  # a user, not a queue
                values["OwnerId"] = p.owner_id
            made = self.admin.call("POST", f"{_SF}/sobjects/Opportunity", values)
            opp = str(made["id"])
            role = {"OpportunityId": opp, "ContactId": p.crm_id, "IsPrimary": True}
            self.admin.call("POST", f"{_SF}/sobjects/OpportunityContactRole", role)
            return opp
        props: dict[str, Any] = {
            "dealname": f"Demo deal {p.crm_id}",
            "dealstage": stage,
            "pipeline": self.pipeline.pipeline_id or "default",
            "amount": str(int(amount)),
            "closedate": _iso(closes),
        }
        if p.owner_id:
            props["hubspot_owner_id"] = p.owner_id
        deal = str(self.admin.call("POST", "/crm/v3/objects/deals", {"properties": props})["id"])
        link = f"/crm/v4/objects/deals/{deal}/associations/default/contacts/{p.crm_id}"
        self.admin.call("PUT", link)
        return deal

    def _move(self, opportunity: str, stage: str, *, closed: bool = False) -> None:
        today = self.world.now
        if self.world.crm == "salesforce":
            values: dict[str, Any] = {"StageName": stage}
            if closed:
                values["CloseDate"] = today.date().isoformat()
            self.admin.call("PATCH", f"{_SF}/sobjects/Opportunity/{opportunity}", values)
            return
        props = {"dealstage": stage} | ({"closedate": _iso(today)} if closed else {})
        self.admin.call("PATCH", f"/crm/v3/objects/deals/{opportunity}", {"properties": props})

    def _pull_and_cycle(self) -> None:
        self.world.sandbox.state.clock.advance(1)  # edits strictly before the pull reads
        self.world.run()


_SF = f"/services/data/{SF_API}"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True, slots=True)
class PipelineCounts:
    meetings: int  # opportunities that reached a meeting-held stage
    opportunities: int  # ... an opportunity or won stage
    won: int


def pipeline_counts(world: World) -> PipelineCounts:
    """The pipeline the connector pulled into the store (not the funnel's own tally)."""
    p = world.mapping.pipeline
    if p is None:
        return PipelineCounts(0, 0, 0)
    o, h = tb.opportunities, tb.opportunity_stages

    def reached(stages: tuple[str, ...]) -> Any:
        if not stages:
            return sa.false()
        was = sa.exists().where(h.c.opportunity_id == o.c.crm_id, h.c.stage.in_(stages))
        return sa.or_(o.c.stage.in_(stages), was)

    def count(cond: Any) -> Any:
        return sa.select(sa.func.count()).select_from(o).where(o.c.deleted.is_(False), cond)

    s = p.stages
    with world.store.begin() as conn:
        return PipelineCounts(
            meetings=int(conn.execute(count(reached(tuple(s.meeting_held)))).scalar_one()),
            opportunities=int(conn.execute(count(reached((*s.opportunity, *s.won)))).scalar_one()),
            won=int(conn.execute(count(o.c.is_won.is_(True))).scalar_one()),
        )
