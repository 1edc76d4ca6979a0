"""The report three ways: rich tables for a terminal, JSON for machines, and one HTML file
that works offline (inline CSS and SVG, a Content-Security-Policy that forbids every
network fetch, no script)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from rich.console import Console
from rich.table import Table

from connector.report.model import GroupMetrics, PlayOutcome, Report, TrendPoint

CSP = "default-src 'none'; style-src 'unsafe-inline'"


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


def _top(counts: dict[str, int], n: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{k} {v}" for k, v in ranked) or "-"


def to_json(report: Report) -> str:
    return json.dumps(report.as_json(), sort_keys=True)


# --- terminal ------------------------------------------------------------------------------


def _group_row(g: GroupMetrics) -> list[str]:
    return [
        g.key,
        str(g.attempted),
        pct(g.contact_rate),
        str(g.contacts),
        pct(g.reply_rate),
        pct(g.meeting_rate),
        pct(g.opt_out_rate),
        duration(g.response_p50_s),
        duration(g.response_p90_s),
        pct(g.sla_met_rate),
        _top(g.dispositions),
        _top(g.blocked),
    ]


def _lift_cell(p: PlayOutcome) -> str:
    lift = p.lift
    if lift.lift is None:
        return "no holdout data"
    text = f"{points(lift.lift)} [{points(lift.low)}, {points(lift.high)}]"
    return f"{text} (too small)" if lift.too_small else text


def print_report(report: Report, console: Console) -> None:
    scope = report.scope
    since = scope.since.isoformat() if scope.since else "start"
    until = scope.until.isoformat() if scope.until else "now"
    groups = Table(title=f"SMS outcomes {since} to {until}")
    for name in (
        "group", "sent", "contact", "contacts", "reply", "meeting", "opt-out",
        "p50 resp", "p90 resp", "SLA met", "dispositions", "blocked",
    ):  # fmt: skip
        groups.add_column(name, justify="left" if name in ("group", "dispositions") else "right")
    for g in [*report.groups, report.total]:
        groups.add_row(*_group_row(g), style="bold" if g is report.total else None)
    console.print(groups)
    plays = Table(title="Plays: outcome conversion and holdout lift")
    for name in ("play", "outcome", "contacts", "converted", "rate", "p50 to outcome", "lift"):
        plays.add_column(name, justify="left" if name in ("play", "outcome", "lift") else "right")
    for p in report.plays:
        plays.add_row(
            p.play,
            p.outcome,
            str(p.contacts),
            str(p.converted),
            pct(p.conversion_rate),
            duration(p.time_to_outcome_p50_s),
            _lift_cell(p),
        )
    console.print(plays)
    trend = Table(title="Opt-outs per day")
    for name in ("day", "texted", "opt-outs", "rate"):
        trend.add_column(name, justify="right")
    for t in report.opt_out_trend:
        trend.add_row(t.day, str(t.texted), str(t.opt_outs), pct(t.rate))
    console.print(trend)


# --- HTML ----------------------------------------------------------------------------------

_W, _H, _PAD = 640, 240, 40


def _svg(title: str, body: str, height: int = _H) -> str:
    return (
        f'<svg role="img" aria-label="{escape(title)}" '
        f'class="chart" viewBox="0 0 {_W} {height}" width="{_W}" height="{height}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _empty(title: str) -> str:
    return _svg(title, f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no data</text>', 80)


def histogram_svg(buckets: Sequence[tuple[str, int]]) -> str:
    title = "Response time distribution"
    top = max((n for _, n in buckets), default=0)
    if top == 0:
        return _empty(title)
    width = (_W - 2 * _PAD) / len(buckets)
    bars = []
    for i, (label, n) in enumerate(buckets):
        h = (_H - 2 * _PAD) * n / top
        x = _PAD + i * width
        y = _H - _PAD - h
        bars.append(
            f'<rect class="bar" x="{x + 4:.1f}" y="{y:.1f}" width="{width - 8:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)}: {n}</title></rect>'
            f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>'
            f'<text x="{x + width / 2:.1f}" y="{_H - _PAD + 16}" text-anchor="middle" '
            f'class="axis">{escape(label)}</text>'
        )
    axis = f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>'
    return _svg(title, axis + "".join(bars))


def plays_svg(plays: Sequence[PlayOutcome]) -> str:
    """One row per play: conversion bar (left), lift with its interval around 0 (right)."""
    title = "Conversion by play, with holdout lift and 95% interval"
    if not plays:
        return _empty(title)
    row = 28
    height = _PAD + row * len(plays) + 20
    label_w, bar_w = 150, 200
    lift_x0, lift_w = label_w + bar_w + 40, _W - (label_w + bar_w + 40) - 20
    bounds = [abs(v) for p in plays for v in (p.lift.low, p.lift.high) if v is not None]
    scale = max([0.05, *bounds])

    def lx(v: float) -> float:
        return lift_x0 + lift_w / 2 + (v / scale) * (lift_w / 2)

    parts = [
        f'<text x="{label_w}" y="16" class="axis">conversion</text>',
        f'<text x="{lift_x0}" y="16" class="axis">lift (exposed - holdout)</text>',
        f'<line x1="{lx(0):.1f}" y1="22" x2="{lx(0):.1f}" y2="{height - 10}" class="zero"/>',
    ]
    for i, p in enumerate(plays):
        y = _PAD + i * row
        rate = p.conversion_rate or 0.0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(p.play)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{bar_w * rate:.1f}" '
            f'height="{row - 10}"><title>{escape(p.play)}: {pct(p.conversion_rate)}</title></rect>'
            f'<text x="{label_w + bar_w * rate + 4:.1f}" y="{y + 14}">'
            f"{pct(p.conversion_rate)}</text>"
        )
        lift = p.lift
        if lift.lift is None or lift.low is None or lift.high is None:
            parts.append(f'<text x="{lift_x0}" y="{y + 14}" class="axis">no holdout</text>')
            continue
        cls = "ci small" if lift.too_small else "ci"
        parts.append(
            f'<line class="{cls}" x1="{lx(lift.low):.1f}" y1="{y + 9}" '
            f'x2="{lx(lift.high):.1f}" y2="{y + 9}"/>'
            f'<circle class="{cls}" cx="{lx(lift.lift):.1f}" cy="{y + 9}" r="4">'
            f"<title>{escape(p.play)}: {_lift_cell(p)}</title></circle>"
        )
    return _svg(title, "".join(parts), height)


def trend_svg(trend: Sequence[TrendPoint]) -> str:
    title = "Opt-out rate per day"
    rates = [(t.day, t.rate or 0.0) for t in trend]
    if not rates:
        return _empty(title)
    top = max([0.001, *(r for _, r in rates)])
    step = (_W - 2 * _PAD) / max(1, len(rates) - 1)
    xy = [
        (_PAD + i * step, _H - _PAD - (_H - 2 * _PAD) * r / top) for i, (_, r) in enumerate(rates)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(d)}: '
        f"{pct(r)}</title></circle>"
        for (x, y), (d, r) in zip(xy, rates, strict=True)
    )
    labels = (
        f'<text x="{_PAD}" y="{_H - _PAD + 16}" class="axis">{escape(rates[0][0])}</text>'
        f'<text x="{_W - _PAD}" y="{_H - _PAD + 16}" text-anchor="end" class="axis">'
        f"{escape(rates[-1][0])}</text>"
        f'<text x="{_PAD}" y="{_PAD - 8}" class="axis">max {pct(top)}</text>'
    )
    axis = f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>'
    return _svg(title, axis + f'<polyline class="line" points="{line}"/>' + dots + labels)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;background:#fff}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #d9e2ec;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.chart{display:block;margin:1rem 0;font-size:11px}
.bar{fill:#3e7cb1}.axis{stroke:#9aa5b1;fill:#52606d}.zero{stroke:#52606d;stroke-dasharray:3 3}
.ci{stroke:#c05621;fill:#c05621;stroke-width:2}.small{stroke:#9aa5b1;fill:#9aa5b1}
.line{fill:none;stroke:#c05621;stroke-width:2}.dot{fill:#c05621}
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def to_html(report: Report) -> str:
    scope = report.scope
    since = scope.since.isoformat() if scope.since else "the start"
    until = scope.until.isoformat() if scope.until else "now"
    by = scope.by.value if scope.by else "overall"
    groups = _table(
        ["group", "sent", "contact rate", "contacts", "reply rate", "meeting rate",
         "opt-out rate", "p50 response", "p90 response", "SLA met", "dispositions", "blocked"],
        [_group_row(g) for g in [*report.groups, report.total]],
    )  # fmt: skip
    plays = _table(
        ["play", "outcome", "contacts", "converted", "conversion", "p50 to outcome",
         "exposed", "holdout", "lift [95% CI]"],
        [
            [p.play, p.outcome, str(p.contacts), str(p.converted), pct(p.conversion_rate),
             duration(p.time_to_outcome_p50_s), pct(p.lift.exposed_rate),
             pct(p.lift.holdout_rate), _lift_cell(p)]
            for p in report.plays
        ],
    )  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>smsync report</title><style>{_CSS}</style></head>
<body>
<h1>smsync report</h1>
<p>From {escape(since)} to {escape(until)}, by {escape(by)}.</p>
<h2>Response time</h2>
{histogram_svg(report.response_histogram)}
<h2>Conversion by play</h2>
{plays_svg(report.plays)}
{plays}
<h2>Opt-out trend</h2>
{trend_svg(report.opt_out_trend)}
<h2>By {escape(by)}</h2>
{groups}
</body></html>
"""
