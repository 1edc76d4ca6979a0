"""The report for a terminal and for machines: narrow rich tables that fit the console
(a table too wide for it is split into several, each repeating the group column, so a
header is never cut), and JSON carrying every figure. The HTML file is in
`connector/report/html.py`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from connector.report.lift import Lift
from connector.report.model import OPT_OUT_WINDOW_S, PlayOutcome, Report
from connector.report.variants import print_variants

GROUP_WIDTH = 22  # the group column folds longer names rather than squeezing the others


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def money(amount: float) -> str:
    return f"{amount:,.0f}"


def days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} d"


def top(counts: dict[str, int], n: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{k} {v}" for k, v in ranked) or "-"


def lift_cell(lift: Lift | None) -> str:
    if lift is None or lift.lift is None:
        return "no holdout data"
    text = f"{points(lift.lift)} [{points(lift.low)}, {points(lift.high)}]"
    return f"{text} (too small)" if lift.too_small else text


def to_json(report: Report) -> str:
    return json.dumps(report.as_json(), sort_keys=True)


def by_title(report: Report) -> str:
    by = report.scope.by
    if by is None:
        return "All texted contacts"
    if by.value == "segment":
        return f"By segment ({report.scope.segment})"
    return f"By {by.value}"


def period(report: Report) -> str:
    s = report.scope
    since = s.since.isoformat() if s.since else "the start"
    until = s.until.isoformat() if s.until else "now"
    return f"{since} to {until}"


# --- tables that fit ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    cell: Callable[[Any], str]
    left: bool = False


def _table(title: str | None, cols: Sequence[Col], rows: Sequence[Any]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i, c in enumerate(cols):
        longest_word = max(len(w) for w in c.header.split())
        table.add_column(
            c.header,
            justify="left" if c.left else "right",
            min_width=longest_word,
            max_width=GROUP_WIDTH if i == 0 else None,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(c.cell(row) for c in cols))
    return table


def fitted(console: Console, title: str, cols: Sequence[Col], rows: Sequence[Any]) -> list[Table]:
    """One table, or several that each fit the console's width: the first column (the
    group) repeats in each, and the others are packed in order."""
    first, rest = cols[0], list(cols[1:])
    chunks: list[list[Col]] = []
    while rest:
        take = [rest.pop(0)]
        while rest and _width(console, [first, *take, rest[0]], rows) <= console.width:
            take.append(rest.pop(0))
        chunks.append(take)
    n = len(chunks)
    return [
        _table(title if n == 1 else f"{title} ({i}/{n})", [first, *chunk], rows)
        for i, chunk in enumerate(chunks, start=1)
    ]


def _width(console: Console, cols: Sequence[Col], rows: Sequence[Any]) -> int:
    wide = console.options.update(width=10_000)  # measure unclamped, then compare
    return console.measure(_table(None, cols, rows), options=wide).maximum


# --- the sections -----------------------------------------------------------------------------


GROUP = Col("group", (lambda g: g.label), left=True)
REACH = [
    GROUP,
    Col("texted", (lambda g: str(g.contacts))),
    Col("contact rate", (lambda g: pct(g.contact_rate))),
    Col("reply rate", (lambda g: pct(g.reply_rate))),
    Col("meeting rate", (lambda g: pct(g.meeting_rate))),
    Col("opt-out rate", (lambda g: pct(g.opt_out_rate))),
]
RESPONSE = [
    GROUP,
    Col("sent", (lambda g: str(g.attempted))),
    Col("delivered", (lambda g: pct(g.delivery_rate))),
    Col("first response p50", (lambda g: duration(g.response_p50_s))),
    Col("p90", (lambda g: duration(g.response_p90_s))),
    Col("business p50", (lambda g: duration(g.response_business_p50_s))),
    Col("p90", (lambda g: duration(g.response_business_p90_s))),
    Col("SLA met", (lambda g: pct(g.sla_met_rate))),
]
PIPELINE = [
    GROUP,
    Col("opportunity rate", lambda g: pct(g.opportunity_rate)),
    Col("won rate", lambda g: pct(g.won_rate)),
    Col("meetings held", lambda g: str(g.meetings_held)),
    Col("opps", lambda g: str(g.opps_influenced)),
    Col("win rate", lambda g: pct(g.win_rate)),
    Col("amount", lambda g: money(g.amount_influenced)),
]
MIX = [
    GROUP,
    Col("top dispositions", (lambda g: top(g.dispositions)), left=True),
    Col("top blocked reasons", (lambda g: top(g.blocked)), left=True),
]
PLAYS = [
    Col("play", (lambda p: p.play), left=True),
    Col("contacts", (lambda p: str(p.contacts))),
    Col("texted", (lambda p: str(p.texted))),
    Col("converted", (lambda p: str(p.converted))),
    Col("rate", (lambda p: pct(p.conversion_rate))),
    Col("holdout", (lambda p: f"{p.lift.holdout_converted}/{p.lift.holdout}")),
    Col("p50 to outcome", (lambda p: duration(p.time_to_outcome_p50_s))),
    Col("clicked", (lambda p: f"{p.contacts_clicked}/{p.contacts_with_links}")),
    Col("click rate", (lambda p: pct(p.click_rate))),
]
LIFTS = [
    Col("play", lambda r: r[0], left=True),
    Col("outcome", lambda r: r[1], left=True),
    Col("exposed", lambda r: f"{r[2].exposed_converted}/{r[2].exposed}"),
    Col("holdout", lambda r: f"{r[2].holdout_converted}/{r[2].holdout}"),
    Col("lift [95% interval]", lambda r: lift_cell(r[2]), left=True),
]


def lift_rows(plays: Sequence[PlayOutcome]) -> list[tuple[str, str, Lift]]:
    """(play, outcome kind, lift) for every lift a play has, stacked rather than side by side."""
    return [
        (p.play, kind, lift)
        for p in plays
        for kind, lift in (
            ("conversion", p.lift),
            ("reply", p.reply_lift),
            ("meeting", p.meeting_lift),
            ("opportunity", p.opportunity_lift),
        )
        if lift is not None and lift.lift is not None
    ]


def print_report(report: Report, console: Console) -> None:
    rows = [*report.groups, report.total]
    window = OPT_OUT_WINDOW_S // 86400
    console.print(f"[bold]smsync report[/bold], {period(report)}. {by_title(report)}.")
    console.print(
        "Rates are shares of the contacts texted in the period; an opt-out counts within "
        f"{window} days after a text.",
        soft_wrap=False,
    )
    for title, cols in (
        ("Reach, replies, meetings, opt-outs", REACH),
        ("Texts and rep first response", RESPONSE),
        ("Pipeline influenced (opportunities created after the first text)", PIPELINE),
        ("Dispositions and blocked sends", MIX),
    ):
        for table in fitted(console, title, cols, rows):
            console.print(table)
    funnel = Table(title="Funnel (contacts)", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("step", "contacts", "of texted"):
        funnel.add_column(name, justify="left" if name == "step" else "right")
    texted = report.total.contacts
    for step, n in report.funnel:
        share = pct(n / texted) if n is not None and texted else "-"
        funnel.add_row(step, "-" if n is None else str(n), share)
    console.print(funnel)
    velocity = Table(title="Stage velocity (median)", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("from", "to", "median", "opportunities"):
        velocity.add_column(name, justify="left" if name in ("from", "to") else "right")
    for v in report.stage_velocity:
        velocity.add_row(v.from_stage, v.to_stage, days(v.median_days), str(v.opportunities))
    console.print(velocity)
    if report.plays:
        for table in fitted(console, "Plays: outcome conversion", PLAYS, report.plays):
            console.print(table)
        lifts = lift_rows(report.plays)
        for table in fitted(console, "Lift vs holdout (exposed minus holdout)", LIFTS, lifts):
            console.print(table)
        for p in report.plays:
            console.print(f"{p.play}: {p.outcome}; over {p.population}.")
    print_variants(report.variants, console)
    trend = Table(title="Opt-outs by day of first text", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("day", "texted", "opt-outs", "rate"):
        trend.add_column(name, justify="right")
    for t in report.opt_out_trend:
        trend.add_row(t.day, str(t.texted), str(t.opt_outs), pct(t.rate))
    console.print(trend)
    console.print(
        f"Inbound-only STOPs (no text in the {window} days before; not in the rates): "
        f"{report.inbound_only_opt_outs}"
    )
