"""The HTML report's charts: inline SVG, no script, nothing fetched. A chart with no data
says so in words rather than drawing an empty frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from connector.report.lift import Lift
from connector.report.model import GroupMetrics, PlayOutcome, TrendPoint
from connector.report.render import lift_cell, pct
from connector.report.variants import VariantSection, once_per_pair

W, H, PAD = 640, 240, 40
RATES = (
    ("contact", "contact_rate", "r0"),
    ("reply", "reply_rate", "r1"),
    ("meeting", "meeting_rate", "r2"),
    ("opt-out", "opt_out_rate", "r3"),
)


def _svg(title: str, body: str, height: int = H) -> str:
    return (
        f'<svg role="img" aria-label="{escape(title)}" '
        f'class="chart" viewBox="0 0 {W} {height}" width="{W}" height="{height}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _empty(title: str) -> str:
    return _svg(title, f'<text x="{W / 2}" y="40" text-anchor="middle">no data</text>', 80)


def funnel_svg(funnel: Sequence[tuple[str, int | None]]) -> str:
    """Texted -> replied -> meeting -> ...: a bar per step, as a share of the texted."""
    title = "Funnel: texted, replied, meeting, opportunity, won"
    top = funnel[0][1] if funnel else None
    if not top:
        return _empty(title)
    row, label_w, bar_w = 30, 110, 400
    parts = []
    for i, (step, n) in enumerate(funnel):
        y = 10 + i * row
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(step)}</text>'
        )
        if n is None:
            parts.append(f'<text x="{label_w}" y="{y + 16}" class="axis">not measured</text>')
            continue
        w = bar_w * n / top
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 8}">'
            f"<title>{escape(step)}: {n}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{n} ({pct(n / top)})</text>'
        )
    return _svg(title, "".join(parts), 20 + row * len(funnel))


def rates_svg(groups: Sequence[GroupMetrics]) -> str:
    """Contact, reply, meeting and opt-out rate of each group (all over its texted)."""
    title = "Rates by group (over contacts texted)"
    shown = [g for g in groups if g.contacts]
    if not shown:
        return _empty(title)
    bar, gap, label_w, bar_w = 9, 10, 150, 380
    block = bar * len(RATES) + gap
    height = 30 + block * len(shown)
    parts = [
        f'<rect class="{cls}" x="{label_w + 90 * i}" y="4" width="10" height="10"/>'
        f'<text x="{label_w + 90 * i + 14}" y="13" class="axis">{name}</text>'
        for i, (name, _, cls) in enumerate(RATES)
    ]
    for i, g in enumerate(shown):
        y0 = 24 + i * block
        parts.append(
            f'<text x="{label_w - 8}" y="{y0 + block / 2:.1f}" text-anchor="end">'
            f"{escape(g.label)}</text>"
        )
        for j, (name, attr, cls) in enumerate(RATES):
            rate = getattr(g, attr) or 0.0
            parts.append(
                f'<rect class="{cls}" x="{label_w}" y="{y0 + j * bar}" '
                f'width="{max(1.0, bar_w * rate):.1f}" height="{bar - 1}">'
                f"<title>{escape(g.label)} {name} rate: {pct(rate)}</title></rect>"
            )
    return _svg(title, "".join(parts), height)


def histogram_svg(buckets: Sequence[tuple[str, int]]) -> str:
    title = "Rep first response time"
    top = max((n for _, n in buckets), default=0)
    if top == 0:
        return _empty(title)
    width = (W - 2 * PAD) / len(buckets)
    bars = []
    for i, (label, n) in enumerate(buckets):
        h = (H - 2 * PAD) * n / top
        x = PAD + i * width
        y = H - PAD - h
        bars.append(
            f'<rect class="bar" x="{x + 4:.1f}" y="{y:.1f}" width="{width - 8:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)}: {n}</title></rect>'
            f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>'
            f'<text x="{x + width / 2:.1f}" y="{H - PAD + 16}" text-anchor="middle" '
            f'class="axis">{escape(label)}</text>'
        )
    axis = f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" class="axis"/>'
    return _svg(title, axis + "".join(bars))


def conversion_svg(plays: Sequence[PlayOutcome]) -> str:
    """A bar per play: its outcome conversion over the row's population."""
    title = "Outcome conversion by play"
    if not plays:
        return _empty(title)
    row, label_w, bar_w = 28, 170, 360
    parts = []
    for i, p in enumerate(plays):
        y = 10 + i * row
        rate = p.conversion_rate or 0.0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(p.play)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{max(1.0, bar_w * rate):.1f}" '
            f'height="{row - 10}"><title>{escape(p.play)}: {pct(p.conversion_rate)}</title></rect>'
            f'<text x="{label_w + bar_w * rate + 6:.1f}" y="{y + 14}">'
            f"{p.converted}/{p.contacts} ({pct(p.conversion_rate)})</text>"
        )
    return _svg(title, "".join(parts), 20 + row * len(plays))


def lift_svg(plays: Sequence[PlayOutcome]) -> str:
    """Each play's lift (exposed minus holdout) on its outcome, reply and meeting, with the
    95% interval around 0; grey when too small to read."""
    title = "Lift vs holdout with 95% interval"
    rows = [
        (f"{p.play} {kind}", lift)
        for p in plays
        for kind, lift in (
            ("outcome", p.lift),
            ("reply", p.reply_lift),
            ("meeting", p.meeting_lift),
            ("opportunity", p.opportunity_lift),
        )
        if lift is not None and lift.lift is not None
    ]
    return _lift_rows_svg(title, rows, 230)


def variants_svg(section: VariantSection) -> str:
    """Each pair of a play's variants, and each variant against the holdout, on every
    metric: the difference with its 95% interval; nothing when no play has variants."""
    if not section.arms:
        return ""
    rows = [
        (f"{c.play} {c.arm} vs {c.against}: {c.metric}", c.lift)
        for c in once_per_pair(section.comparisons)
        if c.lift.lift is not None
    ]
    return _lift_rows_svg("Variant differences with 95% interval", rows, 330)


def _lift_rows_svg(title: str, rows: Sequence[tuple[str, Lift]], label_w: int) -> str:
    if not rows:
        return _empty(title)
    row = 22
    x0, width = label_w + 10, W - label_w - 30
    bounds = [abs(v) for _, lift in rows for v in (lift.low, lift.high) if v is not None]
    scale = max([0.05, *bounds])
    height = 40 + row * len(rows)

    def lx(v: float) -> float:
        return x0 + width / 2 + (v / scale) * (width / 2)

    parts = [
        f'<line x1="{lx(0):.1f}" y1="8" x2="{lx(0):.1f}" y2="{height - 16}" class="zero"/>',
        f'<text x="{lx(-scale):.1f}" y="{height - 4}" class="axis">{pct(-scale)}</text>',
        (
            f'<text x="{lx(scale):.1f}" y="{height - 4}" text-anchor="end" class="axis">'
            f"+{pct(scale)}</text>"
        ),
    ]
    for i, (label, lift) in enumerate(rows):
        parts.append(_lift_row(label, lift, 12 + i * row, label_w, lx))
    return _svg(title, "".join(parts), height)


def _lift_row(label: str, lift: Lift, y: float, label_w: int, lx: Callable[[float], float]) -> str:
    assert lift.lift is not None
    assert lift.low is not None
    assert lift.high is not None
    cls = "ci small" if lift.too_small else "ci"
    return (
        f'<text x="{label_w}" y="{y + 5}" text-anchor="end">{escape(label)}</text>'
        f'<line class="{cls}" x1="{lx(lift.low):.1f}" y1="{y}" x2="{lx(lift.high):.1f}" '
        f'y2="{y}"/><circle class="{cls}" cx="{lx(lift.lift):.1f}" cy="{y}" r="4">'
        f"<title>{escape(label)}: {lift_cell(lift)}</title></circle>"
    )


def trend_svg(trend: Sequence[TrendPoint]) -> str:
    title = "Opt-out rate by day of first text"
    rates = [(t.day, t.rate or 0.0) for t in trend]
    if not rates:
        return _empty(title)
    top = max([0.001, *(r for _, r in rates)])
    step = (W - 2 * PAD) / max(1, len(rates) - 1)
    xy = [(PAD + i * step, H - PAD - (H - 2 * PAD) * r / top) for i, (_, r) in enumerate(rates)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(d)}: '
        f"{pct(r)}</title></circle>"
        for (x, y), (d, r) in zip(xy, rates, strict=True)
    )
    labels = (
        f'<text x="{PAD}" y="{H - PAD + 16}" class="axis">{escape(rates[0][0])}</text>'
        f'<text x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end" class="axis">'
        f"{escape(rates[-1][0])}</text>"
        f'<text x="{PAD}" y="{PAD - 8}" class="axis">max {pct(top)}</text>'
    )
    axis = f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" class="axis"/>'
    return _svg(title, axis + f'<polyline class="line" points="{line}"/>' + dots + labels)


def pipeline_svg(groups: Sequence[GroupMetrics]) -> str:
    """Pipeline amount influenced per group, with its opportunities and wins."""
    title = "Pipeline influenced by group"
    shown = [g for g in groups if g.opps_influenced]
    if not shown:
        return _empty(title)
    row, label_w, bar_w = 28, 150, 300
    top = max(g.amount_influenced for g in shown) or 1.0
    parts = []
    for i, g in enumerate(shown):
        y = 10 + i * row
        w = max(1.0, bar_w * g.amount_influenced / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(g.label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 10}">'
            f"<title>{escape(g.label)}: {g.amount_influenced:,.0f}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{g.amount_influenced:,.0f} '
            f"({g.opps_influenced} opps, {g.opps_won} won)</text>"
        )
    return _svg(title, "".join(parts), 20 + row * len(shown))
