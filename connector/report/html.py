"""The report as one HTML file that works offline: inline CSS and SVG, a
Content-Security-Policy that forbids every network fetch, no script. One section per part
of the report, each with its chart and its table."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from connector.report.charts import (
    conversion_svg,
    funnel_svg,
    histogram_svg,
    lift_svg,
    pipeline_svg,
    rates_svg,
    trend_svg,
    variants_svg,
)
from connector.report.model import OPT_OUT_WINDOW_S, GroupMetrics, Report
from connector.report.render import (
    by_title,
    days,
    duration,
    lift_cell,
    lift_rows,
    money,
    pct,
    period,
    top,
)
from connector.report.variants import variants_html

CSP = "default-src 'none'; style-src 'unsafe-inline'"
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;background:#fff;max-width:60rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #d9e2ec;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.chart{display:block;margin:1rem 0;font-size:11px}
.bar{fill:#3e7cb1}.axis{stroke:none;fill:#52606d}.zero{stroke:#52606d;stroke-dasharray:3 3}
.r0{fill:#3e7cb1}.r1{fill:#2f9e73}.r2{fill:#8e6bbf}.r3{fill:#c05621}
.ci{stroke:#c05621;fill:#c05621;stroke-width:2}.small{stroke:#9aa5b1;fill:#9aa5b1}
.line{fill:none;stroke:#c05621;stroke-width:2}.dot{fill:#c05621}
p.note{color:#52606d;font-size:.9rem}
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _group_rows(groups: Sequence[GroupMetrics]) -> list[list[str]]:
    return [
        [g.label, str(g.contacts), pct(g.contact_rate), pct(g.reply_rate), pct(g.meeting_rate),
         pct(g.opt_out_rate), top(g.dispositions), top(g.blocked)]
        for g in groups
    ]  # fmt: skip


def _response_rows(groups: Sequence[GroupMetrics]) -> list[list[str]]:
    return [
        [g.label, str(g.attempted), pct(g.delivery_rate), duration(g.response_p50_s),
         duration(g.response_p90_s), duration(g.response_business_p50_s),
         duration(g.response_business_p90_s), pct(g.sla_met_rate)]
        for g in groups
    ]  # fmt: skip


def to_html(report: Report) -> str:
    groups = [*report.groups, report.total]
    window = OPT_OUT_WINDOW_S // 86400
    texted = report.total.contacts
    funnel = _table(
        ["step", "contacts", "of texted"],
        [
            [s, "-" if n is None else str(n), pct(n / texted) if n is not None and texted else "-"]
            for s, n in report.funnel
        ],
    )
    reach = _table(
        ["group", "texted", "contact rate", "reply rate", "meeting rate", "opt-out rate",
         "top dispositions", "top blocked reasons"],
        _group_rows(groups),
    )  # fmt: skip
    response = _table(
        ["group", "sent", "delivered", "first response p50", "p90", "business p50",
         "business p90", "SLA met"],
        _response_rows(groups),
    )  # fmt: skip
    pipeline = _table(
        ["group", "opportunity rate", "won rate", "meetings held", "opportunities", "won",
         "closed", "win rate", "amount"],
        [
            [g.label, pct(g.opportunity_rate), pct(g.won_rate), str(g.meetings_held),
             str(g.opps_influenced), str(g.opps_won), str(g.opps_closed), pct(g.win_rate),
             money(g.amount_influenced)]
            for g in groups
        ],
    )  # fmt: skip
    velocity = _table(
        ["from", "to", "median", "opportunities"],
        [
            [v.from_stage, v.to_stage, days(v.median_days), str(v.opportunities)]
            for v in report.stage_velocity
        ],
    )
    plays = _table(
        ["play", "population", "contacts", "texted", "converted", "rate", "holdout",
         "p50 to outcome", "clicked", "click rate", "outcome"],
        [
            [p.play, p.population, str(p.contacts), str(p.texted), str(p.converted),
             pct(p.conversion_rate), f"{p.lift.holdout_converted}/{p.lift.holdout}",
             duration(p.time_to_outcome_p50_s),
             f"{p.contacts_clicked}/{p.contacts_with_links}", pct(p.click_rate), p.outcome]
            for p in report.plays
        ],
    )  # fmt: skip
    lifts = _table(
        ["play", "outcome", "exposed", "holdout", "lift [95% interval]"],
        [
            [play, kind, f"{lift.exposed_converted}/{lift.exposed}",
             f"{lift.holdout_converted}/{lift.holdout}", lift_cell(lift)]
            for play, kind, lift in lift_rows(report.plays)
        ],
    )  # fmt: skip
    trend = _table(
        ["day", "texted", "opt-outs", "rate"],
        [[t.day, str(t.texted), str(t.opt_outs), pct(t.rate)] for t in report.opt_out_trend],
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>smsync report</title><style>{_CSS}</style></head>
<body>
<h1>smsync report</h1>
<p>From {escape(period(report))}. {escape(by_title(report))}.</p>
<p class="note">Every rate is a share of the contacts texted in the period. An opt-out
counts when it came within {window} days after a text; STOPs from numbers not texted in the
{window} days before ({report.inbound_only_opt_outs}) are not in the rates.</p>
<h2>Funnel</h2>
{funnel_svg(report.funnel)}
{funnel}
<h2>{escape(by_title(report))}: reach, replies, meetings, opt-outs</h2>
{rates_svg(groups)}
{reach}
<h2>Rep first response</h2>
<p class="note">From a reply that needed a person to the first human answer (a manual
text through smsync or the follow-up task completed), in wall-clock and business hours.</p>
{histogram_svg(report.response_histogram)}
{response}
<h2>Pipeline influenced</h2>
<p class="note">Opportunities linked to a texted contact and created within the mapping's
window after the contact's first text; win rate is won over closed.</p>
{pipeline_svg(groups)}
{pipeline}
{velocity}
<h2>Plays: outcome conversion</h2>
{conversion_svg(report.plays)}
{plays}
<h2>Lift vs holdout</h2>
{lift_svg(report.plays)}
{lifts}
{variants_html(report.variants, variants_svg(report.variants))}<h2>Opt-out trend</h2>
{trend_svg(report.opt_out_trend)}
{trend}
</body></html>
"""
