"""The report's experiments section: per play with variants, each arm's contacts and its
sent, reply, click, meeting and opportunity rates, and each arm against the other arms and the
holdout with a 95% interval (`lift.holdout_lift`: Newcombe's hybrid score interval),
flagged too small to judge under `lift.MIN_ARM` contacts or `lift.MIN_EVENTS` events.

Every rate's denominator is the arm's contacts (everyone assigned, texted or not): the
holdout is never texted, so only intent-to-treat rates compare arms with it. The SQL is
`connector/store/report_variants.py`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from connector.ports import Connection
from connector.report.lift import Lift, holdout_lift
from connector.store.report_variants import HOLDOUT_ARM, ArmMember, arm_members

if TYPE_CHECKING:
    from connector.report.model import Scope

METRICS = ("replied", "clicked", "meetings", "opportunities")  # compared between arms


@dataclass(frozen=True, slots=True)
class ArmFigures:
    play: str
    arm: str  # a variant's name, or "holdout"
    contacts: int
    sent: int
    replied: int
    clicked: int
    meetings: int
    opportunities: int

    def rate(self, count: int) -> float | None:
        return count / self.contacts if self.contacts else None

    def as_json(self) -> dict[str, object]:
        return {
            "play": self.play,
            "variant": self.arm,
            "holdout": self.arm == HOLDOUT_ARM,
            "contacts": self.contacts,
            "sent": self.sent,
            "replied": self.replied,
            "clicked": self.clicked,
            "meetings": self.meetings,
            "opportunities": self.opportunities,
            "sent_rate": self.rate(self.sent),
            "reply_rate": self.rate(self.replied),
            "click_rate": self.rate(self.clicked),
            "meeting_rate": self.rate(self.meetings),
            "opportunity_rate": self.rate(self.opportunities),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """`arm` minus `against` on one metric, in rate units, with its 95% interval."""

    play: str
    arm: str
    against: str
    metric: str
    lift: Lift

    def as_json(self) -> dict[str, object]:
        return {
            "play": self.play,
            "variant": self.arm,
            "against": self.against,
            "metric": self.metric,
            **self.lift.as_json(),
        }


@dataclass(frozen=True, slots=True)
class VariantSection:
    arms: tuple[ArmFigures, ...] = ()
    comparisons: tuple[Comparison, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "arms": [a.as_json() for a in self.arms],
            "comparisons": [c.as_json() for c in self.comparisons],
        }


def figures(members: Sequence[ArmMember], window: timedelta) -> tuple[ArmFigures, ...]:
    """Per (play, arm): the counts, an opportunity counting within `window` of the first
    decision."""
    tally: dict[tuple[str, str], list[int]] = {}
    for m in members:
        row = tally.setdefault((m.play, m.arm), [0, 0, 0, 0, 0, 0])
        opp = m.opportunity_at is not None and m.opportunity_at - m.first_at <= window
        # a meeting booked or held, as the report's meeting rate counts it: an opportunity
        # counted is a meeting too, so meeting >= opportunity in every arm
        held = m.pipeline_meeting_at is not None and m.pipeline_meeting_at - m.first_at <= window
        meeting = m.meeting or held or opp
        for i, hit in enumerate((True, m.sent, m.replied, m.clicked, meeting, opp)):
            row[i] += int(hit)

    def order(key: tuple[str, str]) -> tuple[str, bool, str]:
        return key[0], key[1] == HOLDOUT_ARM, key[1]

    return tuple(
        ArmFigures(play, arm, *tally[(play, arm)]) for play, arm in sorted(tally, key=order)
    )


def compare(arms: Sequence[ArmFigures]) -> tuple[Comparison, ...]:
    """Each variant against every other variant of its play and against the holdout."""
    out: list[Comparison] = []
    for arm in arms:
        if arm.arm == HOLDOUT_ARM:
            continue
        for other in arms:
            if other.play != arm.play or other.arm == arm.arm:
                continue
            for metric in METRICS:
                x1, x0 = getattr(arm, metric), getattr(other, metric)
                lift = holdout_lift(x1, arm.contacts, x0, other.contacts)
                out.append(Comparison(arm.play, arm.arm, other.arm, metric, lift))
    return tuple(out)


def variant_section(conn: Connection, scope: Scope) -> VariantSection:
    members = arm_members(
        conn,
        since=scope.since,
        until=scope.until,
        meeting=scope.meeting,
        pipeline=scope.pipeline,
    )
    arms = figures(members, timedelta(days=scope.pipeline.window_days))
    return VariantSection(arms, compare(arms))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _points(lift: Lift) -> str:
    if lift.lift is None or lift.low is None or lift.high is None:
        return "no data"
    text = f"{lift.lift * 100:+.1f} pts [{lift.low * 100:+.1f}, {lift.high * 100:+.1f}]"
    return f"{text} too small to judge" if lift.too_small else text


ARM_HEAD = ("play", "variant", "contacts", "sent", "reply", "click", "meeting", "opportunity")
DIFF_HEAD = ("play", "variant", "against", "metric", "difference [95% interval]")
# the terminal shows one play per table (its name in the title), so the columns fit 80
TERM_ARM_HEAD = ARM_HEAD[1:]
TERM_DIFF_HEAD = ("variant", "against", "metric", "points", "95% interval", "")


def _arm_cells(a: ArmFigures) -> list[str]:
    return [
        a.play,
        a.arm,
        str(a.contacts),
        _pct(a.rate(a.sent)),
        _pct(a.rate(a.replied)),
        _pct(a.rate(a.clicked)),
        _pct(a.rate(a.meetings)),
        _pct(a.rate(a.opportunities)),
    ]


def _diff_cells(c: Comparison) -> list[str]:
    return [c.play, c.arm, c.against, c.metric, _points(c.lift)]


def _term_diff_cells(c: Comparison) -> list[str]:
    lift = c.lift
    if lift.lift is None or lift.low is None or lift.high is None:
        return [c.arm, c.against, c.metric, "no data", "", ""]
    return [
        c.arm,
        c.against,
        c.metric,
        f"{lift.lift * 100:+.1f}",
        f"[{lift.low * 100:+.1f}, {lift.high * 100:+.1f}]",
        "too small" if lift.too_small else "",
    ]


def once_per_pair(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """A against B is B against A with the sign turned: the terminal shows each pair once
    (every variant against the holdout, and each pair of variants in name order)."""
    return [c for c in comparisons if c.against == HOLDOUT_ARM or c.arm < c.against]


def print_variants(section: VariantSection, console: Console) -> None:
    """The section in the terminal report, one play at a time so it fits 80 columns;
    nothing when no play has variants."""
    for play in dict.fromkeys(a.play for a in section.arms):
        arms = [_arm_cells(a)[1:] for a in section.arms if a.play == play]
        pairs = [c for c in once_per_pair(section.comparisons) if c.play == play]
        for title, head, rows in (
            (f"Variants of {play} (rates of the contacts assigned)", TERM_ARM_HEAD, arms),
            (f"Variant differences, {play}", TERM_DIFF_HEAD, map(_term_diff_cells, pairs)),
        ):
            table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
            for name in head:
                left = name in ("variant", "against", "metric", "")
                table.add_column(name, justify="left" if left else "right", no_wrap=True)
            for row in rows:
                table.add_row(*row)
            console.print(table)


def variants_html(section: VariantSection, chart: str = "") -> str:
    """The section as HTML tables under its chart (`charts.variants_svg`); empty when no
    play has variants."""
    if not section.arms:
        return ""

    def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        th = "".join(f"<th>{escape(h)}</th>" for h in head)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    arms = table(ARM_HEAD, [_arm_cells(a) for a in section.arms])
    diffs = table(DIFF_HEAD, [_diff_cells(c) for c in section.comparisons])
    return f"<h2>Variants</h2>\n{chart}\n{arms}\n<h3>Variant differences</h3>\n{diffs}\n"
