"""The report's records (what `build_report` returns and `render` shows); the scope of a
report (period, grouping) and the constants its definitions use are
`connector/store/report_scope.py`'s, re-exported here. The definitions are in
`connector/report/queries.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.report.lift import Lift
from connector.report.variants import VariantSection
from connector.store.report_scope import (
    ALL_KEY,
    BUCKETS,
    CONTACT_COLUMNS,
    CRM_SOURCE,
    DEFAULT_CALENDAR,
    DELIVERED,
    HOLDOUT,
    MEETING_DISPOSITIONS,
    NONE_KEY,
    OPT_OUT_WINDOW_S,
    OPTED_OUT,
    GroupBy,
    PipelineDefs,
    Scope,
)

__all__ = [
    "ALL_KEY",
    "BUCKETS",
    "CONTACT_COLUMNS",
    "CRM_SOURCE",
    "DEFAULT_CALENDAR",
    "DELIVERED",
    "HOLDOUT",
    "MEETING_DISPOSITIONS",
    "NONE_KEY",
    "OPTED_OUT",
    "OPT_OUT_WINDOW_S",
    "POPULATION_TEXTED",
    "POPULATION_TREATED",
    "GroupBy",
    "GroupMetrics",
    "PipelineDefs",
    "PlayOutcome",
    "Report",
    "Scope",
    "StageVelocity",
    "TrendPoint",
]

POPULATION_TEXTED = "contacts texted in the period"
POPULATION_TREATED = "contacts in the play's treated arm in the period (texted or not)"


@dataclass(frozen=True, slots=True)
class StageVelocity:
    from_stage: str
    to_stage: str
    median_days: float | None
    opportunities: int  # that reached both


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """One group's figures. Every contact rate has the same denominator, `contacts` (the
    contacts texted in the period), so a row's counts and rates always agree."""

    key: str
    name: str | None = None  # what a reader knows the group by (an owner's name)
    attempted: int = 0
    delivered: int = 0
    contacts: int = 0
    reached: int = 0
    replied: int = 0
    meetings: int = 0
    opted_out: int = 0
    sla_closed: int = 0
    sla_met: int = 0
    response_p50_s: int | None = None
    response_p90_s: int | None = None
    response_business_p50_s: int | None = None
    response_business_p90_s: int | None = None
    opportunities: int = 0  # texted contacts with an opportunity created in the window
    won: int = 0  # ... with a won one
    meetings_held: int = 0  # ... with one that reached a meeting-held stage
    opps_influenced: int = 0  # distinct opportunities of those contacts
    opps_won: int = 0
    opps_closed: int = 0
    amount_influenced: float = 0.0
    dispositions: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.key

    @property
    def delivery_rate(self) -> float | None:
        return _rate(self.delivered, self.attempted)

    @property
    def contact_rate(self) -> float | None:
        return _rate(self.reached, self.contacts)

    @property
    def reply_rate(self) -> float | None:
        return _rate(self.replied, self.contacts)

    @property
    def meeting_rate(self) -> float | None:
        return _rate(self.meetings, self.contacts)

    @property
    def opt_out_rate(self) -> float | None:
        return _rate(self.opted_out, self.contacts)

    @property
    def sla_met_rate(self) -> float | None:
        return _rate(self.sla_met, self.sla_closed)

    @property
    def opportunity_rate(self) -> float | None:
        return _rate(self.opportunities, self.contacts)

    @property
    def won_rate(self) -> float | None:
        return _rate(self.won, self.contacts)

    @property
    def win_rate(self) -> float | None:
        """Won over closed, of the opportunities influenced."""
        return _rate(self.opps_won, self.opps_closed)

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "population": POPULATION_TEXTED,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "delivery_rate": self.delivery_rate,
            "contacts": self.contacts,
            "reached": self.reached,
            "contact_rate": self.contact_rate,
            "replied": self.replied,
            "reply_rate": self.reply_rate,
            "meetings": self.meetings,
            "meeting_rate": self.meeting_rate,
            "opted_out": self.opted_out,
            "opt_out_rate": self.opt_out_rate,
            "sla_closed": self.sla_closed,
            "sla_met": self.sla_met,
            "sla_met_rate": self.sla_met_rate,
            "response_p50_s": self.response_p50_s,
            "response_p90_s": self.response_p90_s,
            "response_business_p50_s": self.response_business_p50_s,
            "response_business_p90_s": self.response_business_p90_s,
            "opportunities": self.opportunities,
            "opportunity_rate": self.opportunity_rate,
            "won": self.won,
            "won_rate": self.won_rate,
            "meetings_held": self.meetings_held,
            "opps_influenced": self.opps_influenced,
            "opps_won": self.opps_won,
            "opps_closed": self.opps_closed,
            "win_rate": self.win_rate,
            "amount_influenced": self.amount_influenced,
            "dispositions": dict(sorted(self.dispositions.items())),
            "blocked": dict(sorted(self.blocked.items())),
        }


@dataclass(frozen=True, slots=True)
class PlayOutcome:
    """A play's outcome over one population: the treated arm when the play has a holdout
    (contacts assigned to be texted, texted or not), else the contacts it texted. `contacts`
    and `converted` are that population's, and so are the lift's exposed figures."""

    play: str
    outcome: str  # how the outcome was defined, for the reader
    population: str  # POPULATION_TREATED or POPULATION_TEXTED
    contacts: int
    texted: int  # of `contacts`, those the play texted in the period
    converted: int
    time_to_outcome_p50_s: int | None
    time_to_outcome_p90_s: int | None
    lift: Lift
    reply_lift: Lift | None = None
    meeting_lift: Lift | None = None
    opportunity_lift: Lift | None = None
    # tracked links (store/report_clicks.py): texts of the play in the period with a link,
    # the contacts they went to, those with a counted click, and the uncounted fetches
    texts_with_links: int = 0
    contacts_with_links: int = 0
    contacts_clicked: int = 0
    clicks_not_counted: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.converted, self.contacts)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.contacts_clicked, self.contacts_with_links)

    def as_json(self) -> dict[str, object]:
        return {
            "play": self.play,
            "outcome": self.outcome,
            "population": self.population,
            "contacts": self.contacts,
            "texted": self.texted,
            "converted": self.converted,
            "conversion_rate": self.conversion_rate,
            "time_to_outcome_p50_s": self.time_to_outcome_p50_s,
            "time_to_outcome_p90_s": self.time_to_outcome_p90_s,
            "lift": self.lift.as_json(),
            "reply_lift": self.reply_lift.as_json() if self.reply_lift else None,
            "meeting_lift": self.meeting_lift.as_json() if self.meeting_lift else None,
            "opportunity_lift": (
                self.opportunity_lift.as_json() if self.opportunity_lift else None
            ),
            "texts_with_links": self.texts_with_links,
            "contacts_with_links": self.contacts_with_links,
            "contacts_clicked": self.contacts_clicked,
            "click_rate": self.click_rate,
            "clicks_not_counted": self.clicks_not_counted,
        }


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """Contacts first texted on one UTC day, and how many of them opted out within the
    window after a text (a cohort, so the rate is a share of the day's contacts)."""

    day: str  # YYYY-MM-DD, UTC
    texted: int
    opt_outs: int

    @property
    def rate(self) -> float | None:
        return _rate(self.opt_outs, self.texted)


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    total: GroupMetrics
    groups: list[GroupMetrics]
    plays: list[PlayOutcome]
    opt_out_trend: list[TrendPoint]
    response_histogram: list[tuple[str, int]]
    inbound_only_opt_outs: int = 0  # STOPs from numbers not texted in the window before
    stage_velocity: list[StageVelocity] = field(default_factory=list)
    variants: VariantSection = field(default_factory=VariantSection)  # report/variants.py

    @property
    def funnel(self) -> list[tuple[str, int | None]]:
        """Contacts at each step, all of them texted in the period (None: not measured)."""
        t = self.total
        return [
            ("texted", t.contacts),
            ("replied", t.replied),
            ("meeting", t.meetings),
            ("opportunity", t.opportunities),
            ("won", t.won),
        ]

    def as_json(self) -> dict[str, object]:
        s = self.scope
        return {
            "period": {
                "since": s.since.isoformat() if s.since else None,
                "until": s.until.isoformat() if s.until else None,
            },
            "by": s.by.value if s.by else None,
            "segment": s.segment if s.by is GroupBy.SEGMENT else None,
            "total": self.total.as_json(),
            "groups": [g.as_json() for g in self.groups],
            "plays": [p.as_json() for p in self.plays],
            "funnel": [{"step": name, "contacts": n} for name, n in self.funnel],
            "inbound_only_opt_outs": self.inbound_only_opt_outs,
            "stage_velocity": [
                {
                    "from": v.from_stage,
                    "to": v.to_stage,
                    "median_days": v.median_days,
                    "opportunities": v.opportunities,
                }
                for v in self.stage_velocity
            ],
            "opt_out_trend": [
                {"day": p.day, "texted": p.texted, "opt_outs": p.opt_outs, "rate": p.rate}
                for p in self.opt_out_trend
            ],
            "response_histogram": [{"bucket": b, "count": n} for b, n in self.response_histogram],
            "variants": self.variants.as_json(),
        }
