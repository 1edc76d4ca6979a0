"""Realistic seed data shared by the CRM emulators.

US numbers across every time zone, including multi-zone area codes (907, 775, 986);
owners on teams; stages; some numbers shared by a Lead and a Contact; some invalid
numbers and landlines; phones written the many ways people type them. On request
(`deal_share`), deals for some Contacts: contact roles and a stage history that each CRM
emulator loads as its own pipeline objects (Opportunity, deals)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

# area code -> the zone a human would say; the multi-zone ones are the interesting ones
AREA_CODES: tuple[tuple[int, str], ...] = (
    (212, "America/New_York"),
    (404, "America/New_York"),
    (305, "America/New_York"),
    (617, "America/New_York"),
    (312, "America/Chicago"),
    (214, "America/Chicago"),
    (615, "America/Chicago"),
    (303, "America/Denver"),
    (801, "America/Denver"),
    (602, "America/Phoenix"),
    (415, "America/Los_Angeles"),
    (206, "America/Los_Angeles"),
    (503, "America/Los_Angeles"),
    (907, "America/Anchorage"),  # multi-zone: Adak and Anchorage
    (775, "America/Los_Angeles"),  # multi-zone: Boise and Los Angeles
    (986, "America/Boise"),  # multi-zone: Boise and Los Angeles
    (808, "Pacific/Honolulu"),
    (787, "America/Puerto_Rico"),
)
FIRST = (
    "Ava",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kai",
    "Lena",
    "Milo",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sam",
    "Tess",
    "Uma",
    "Vic",
    "Wren",
    "Yuri",
)
LAST = (
    "Adams",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Fox",
    "Garcia",
    "Hill",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Moore",
    "Nguyen",
    "Ortiz",
    "Patel",
    "Reed",
    "Singh",
    "Tran",
    "Wu",
)
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
)
INDUSTRIES = ("Technology", "Healthcare", "Finance", "Retail", "Manufacturing", "Education")
STATES = (
    "NY",
    "GA",
    "FL",
    "MA",
    "IL",
    "TX",
    "TN",
    "CO",
    "UT",
    "AZ",
    "CA",
    "WA",
    "OR",
    "AK",
    "NV",
    "ID",
    "HI",
    "PR",
)
TEAMS = ("East", "Central", "West", "Enterprise")
# canonical lifecycle stages; each CRM emulator maps them to its own picklist values
STAGES = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
# seeded last activity: 3 to 45 days before seeding, so no seeded rep looks engaged just now
LAST_ACTIVITY_MIN_DAYS = 3
LAST_ACTIVITY_SPREAD_DAYS = 43
JOURNEYS = ("New", "Engaged", "Nurture", "Meeting_Booked", "Closed")
# canonical deal stages, open ones in pipeline order; each CRM emulator maps them to its own
DEAL_STAGES = ("meeting", "qualified", "presentation", "decision", "contract")
DEAL_WON, DEAL_LOST = "won", "lost"
_MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class SeedOwner:
    key: str
    first_name: str
    last_name: str
    email: str
    team: str


@dataclass(frozen=True, slots=True)
class SeedContact:
    key: str
    kind: Literal["lead", "contact"]
    first_name: str
    last_name: str
    email: str
    company: str
    phone: str  # as typed into the CRM: may be formatted, invalid, or a landline
    phone_e164: str | None  # None when the number cannot be parsed as valid
    mobile: bool
    owner: str  # SeedOwner.key
    stage: str
    journey_state: str
    industry: str
    state: str
    time_zone: str | None  # the CRM's own time zone field, when the CRM has one
    consent: Literal["opted_in", "opted_out", "unknown"]
    last_activity_days: int = 0  # days since the last logged activity, as of seeding
    renewal_in_days: int | None = None  # customers' renewal, days after seeding


@dataclass(frozen=True, slots=True)
class SeedDeal:
    """One deal and how it moved: `stages` are (canonical stage, minutes before seeding),
    oldest first; the first is when the deal was created, the last is where it stands."""

    key: str
    name: str
    contacts: tuple[str, ...]  # SeedContact keys (kind "contact"); the first is primary
    owner: str  # SeedOwner.key
    amount: int  # whole dollars
    stages: tuple[tuple[str, int], ...]
    close_in_days: int  # expected (or actual, once closed) close date, days after seeding

    @property
    def stage(self) -> str:
        return self.stages[-1][0]


@dataclass(frozen=True, slots=True)
class SeedData:
    owners: list[SeedOwner]
    contacts: list[SeedContact]
    landlines: frozenset[str] = field(default_factory=frozenset)
    invalid: frozenset[str] = field(default_factory=frozenset)
    deals: list[SeedDeal] = field(default_factory=list)


def _number(rng: random.Random, area: int) -> str:
    while True:
        exchange = rng.randint(200, 999)
        line = rng.randint(0, 9999)
        candidate = f"+1{area}{exchange}{line:04d}"
        if exchange != 555 and phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def _typed(rng: random.Random, e164: str) -> str:
    """How a person might have typed this number into a CRM."""
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return rng.choice(
        (
            e164,
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            f"{area}.{exchange}.{line}",
        )
    )


def generate(contacts: int, *, seed: int = 7, owners: int = 8, deal_share: float = 0.0) -> SeedData:
    """Deterministic for a given seed, so tests can count what they expect.

    `deal_share` of the Contacts (kind "contact": Salesforce contact roles need a Contact)
    get a deal. Deals draw from their own generator, so asking for them changes nothing
    else that is generated."""
    if not 0.0 <= deal_share <= 1.0:
        raise ValueError(f"deal_share must be between 0 and 1, got {deal_share}")
    rng = random.Random(seed)
    owner_list = [
        SeedOwner(
            key=f"o{i:03d}",
            first_name=FIRST[i % len(FIRST)],
            last_name=LAST[(i * 7) % len(LAST)],
            email=f"owner{i}@example.com",
            team=TEAMS[i % len(TEAMS)],
        )
        for i in range(max(1, owners))
    ]
    out: list[SeedContact] = []
    landlines: set[str] = set()
    invalid: set[str] = set()
    previous_e164: str | None = None
    for i in range(contacts):
        area, zone = AREA_CODES[i % len(AREA_CODES)]
        roll = rng.random()
        number = _number(rng, area)
        typed = _typed(rng, number)
        mobile = True
        if roll < 0.05:  # a desk phone
            mobile = False
            landlines.add(number)
        elif roll < 0.08 and previous_e164 is not None:  # the same person as Lead and Contact
            number = previous_e164
            typed = _typed(rng, number)
        e164: str | None = number
        if roll < 0.02:  # an unusable number, as CRMs are full of
            typed = rng.choice(("555-0100", "+1 (111) 222-3333", "n/a", "12345"))
            e164 = None
            landlines.discard(number)
            invalid.add(typed)
        kind: Literal["lead", "contact"] = "lead" if i % 2 == 0 else "contact"
        first, last = FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))]
        out.append(
            SeedContact(
                key=f"c{i:06d}",
                kind=kind,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}{i}@example.org",
                company=COMPANIES[rng.randrange(len(COMPANIES))],
                phone=typed,
                phone_e164=e164,
                mobile=mobile,
                owner=owner_list[rng.randrange(len(owner_list))].key,
                stage=STAGES[rng.randrange(len(STAGES))],
                journey_state=JOURNEYS[rng.randrange(len(JOURNEYS))],
                industry=INDUSTRIES[rng.randrange(len(INDUSTRIES))],
                state=STATES[i % len(AREA_CODES) % len(STATES)],
                time_zone=zone if rng.random() < 0.3 else None,
                consent=rng.choice(("opted_in", "opted_in", "opted_in", "unknown", "opted_out")),
                # from the index, not the generator, so earlier draws stay as they were
                last_activity_days=LAST_ACTIVITY_MIN_DAYS + (i * 37) % LAST_ACTIVITY_SPREAD_DAYS,
                renewal_in_days=10 + (i // 4) % 40 if i % 4 == 1 else None,
            )
        )
        if e164 is not None and mobile:
            previous_e164 = e164
    deals = _deals(random.Random(f"deals:{seed}"), out, deal_share) if deal_share else []
    return SeedData(owner_list, out, frozenset(landlines), frozenset(invalid), deals)


def _deals(rng: random.Random, people: list[SeedContact], share: float) -> list[SeedDeal]:
    candidates = [c for c in people if c.kind == "contact"]
    out: list[SeedDeal] = []
    for person in candidates:
        if rng.random() >= share:
            continue
        contacts: tuple[str, ...] = (person.key,)
        if len(candidates) > 1 and rng.random() < 0.2:  # a second buyer, not primary
            other = candidates[rng.randrange(len(candidates))]
            if other.key != person.key:
                contacts += (other.key,)
        stages = _stage_path(rng)
        closed = stages[-1][0] in {DEAL_WON, DEAL_LOST}
        close_in = -(stages[-1][1] // _MINUTES_PER_DAY) if closed else rng.randint(5, 60)
        key = f"d{len(out):06d}"
        out.append(
            SeedDeal(
                key=key,
                name=f"{person.company} - {person.last_name} ({key})",
                contacts=contacts,
                owner=person.owner,
                amount=rng.randrange(2_000, 60_000, 500),
                stages=stages,
                close_in_days=close_in,
            )
        )
    return out


def _stage_path(rng: random.Random) -> tuple[tuple[str, int], ...]:
    """A plausible walk: created 1 to 10 weeks ago, forward a stage every 1 to 12 days,
    stopping open, or closing (won more often from late stages); never in the last hour."""
    ago = rng.randint(7, 70) * _MINUTES_PER_DAY + rng.randrange(_MINUTES_PER_DAY)
    path = [(DEAL_STAGES[0], ago)]

    def step() -> bool:
        nonlocal ago
        gap = rng.randint(1, 12) * _MINUTES_PER_DAY + rng.randrange(_MINUTES_PER_DAY)
        if ago - gap < 60:
            return False
        ago -= gap
        return True

    reached = 0
    while reached + 1 < len(DEAL_STAGES) and rng.random() < 0.65 and step():
        reached += 1
        path.append((DEAL_STAGES[reached], ago))
    roll = rng.random()
    late = reached >= 3
    outcome = DEAL_WON if late and roll < 0.45 else DEAL_LOST if roll < 0.2 + 0.25 * late else ""
    if outcome and step():
        path.append((outcome, ago))
    return tuple(path)
