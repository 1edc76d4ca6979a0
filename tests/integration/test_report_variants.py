"""The report's variants section on a dataset with chosen figures: per arm exact counts
and rates (SQLite and Postgres), and each difference's 95% interval equal to a reference
computed here from the published formulas (Wilson 1927; Newcombe 1998, method 10)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rich.console import Console

from connector.report.html import to_html
from connector.report.lift import newcombe
from connector.report.queries import Scope, build_report
from connector.report.render import print_report, to_json
from connector.store import SqlStore
from connector.store import tables as tb

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
SINCE, UNTIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
Z = 1.959963984540054

# arm -> (contacts, sent, replied, meetings, opportunities within 30 days)
ARMS = {
    "direct": (60, 55, 18, 9, 6),
    "question": (50, 50, 10, 5, 2),
    "holdout": (40, 0, 4, 2, 1),
}
# arm -> (contacts whose text carried a tracked link, of them those with a counted click):
# the holdout is never texted, so it has no link and no click
LINKS = {"direct": (40, 12), "question": (30, 7), "holdout": (0, 0)}


def _link(conn: sa.Connection, sid: int, cid: str, name: str, at: datetime) -> int:
    return int(
        conn.execute(
            sa.insert(tb.tracked_links)
            .values(
                token=f"tok{sid:08d}{name}",
                outbox_id=sid,
                link=name,
                play="trial",
                contact_type="Lead",
                contact_id=cid,
                destination="https://acme.example/pricing",
                high_intent=False,
                created_at=at,
                expires_at=at + timedelta(days=30),
            )
            .returning(tb.tracked_links.c.id)
        ).scalar_one()
    )


def _click(conn: sa.Connection, link_id: int, cid: str, flag: str, at: datetime) -> None:
    conn.execute(
        sa.insert(tb.link_clicks).values(
            link_id=link_id, flag=flag, at=at, contact_type="Lead", contact_id=cid
        )
    )


def _links(conn: sa.Connection, arm: str, i: int, cid: str, *, sid: int, at: datetime) -> None:
    """The tracked links of contact `i`'s text, and its clicks: the first `clicked` of the
    contacts with a link click once; contact 0 of each arm also clicks a second link of the
    same text (one contact still) and its first link is fetched by a previewer (not
    counted)."""
    with_link, clicked = LINKS[arm]
    if i >= with_link:
        return
    pricing = _link(conn, sid, cid, "pricing", at)
    if i < clicked:
        _click(conn, pricing, cid, "counted", at + timedelta(minutes=10))
    if i == 0:
        demo = _link(conn, sid, cid, "demo", at)
        _click(conn, demo, cid, "counted", at + timedelta(minutes=11))
        _click(conn, pricing, cid, "previewer", at + timedelta(seconds=2))


def _build(conn: sa.Connection) -> None:
    sid = 0
    for arm, (n, sent, replied, meetings, opps) in ARMS.items():
        for i in range(n):
            cid = f"{arm}-{i:03d}"
            first = T0 + timedelta(minutes=i)
            meeting = i < meetings
            conn.execute(
                sa.insert(tb.contact_state).values(
                    crm_object_type="Lead",
                    crm_id=cid,
                    phone=f"+1555{i:07d}",
                    consent="opted_in",
                    segments={},
                    disposition="meeting_booked" if meeting else "interested",
                    crm_modstamp=first + timedelta(days=1),
                    deleted=False,
                    updated_at=T0,
                )
            )
            held = arm == "holdout"
            conn.execute(
                sa.insert(tb.decision_log).values(
                    contact_type="Lead",
                    contact_id=cid,
                    verdict="block" if held else "allow",
                    reasons=["holdout"] if held else ["holdout_treated"],
                    play="trial",
                    variant=None if held else arm,
                    at=first,
                )
            )
            messages = []
            if not held:  # every treated contact got a text; the first `sent` got through
                messages.append(("outbound", "delivered" if i < sent else "failed"))
            if i < replied:
                messages.append(("inbound", "received"))
            for direction, status in messages:
                sid += 1
                at = first + timedelta(minutes=5 if direction == "outbound" else 30)
                conn.execute(
                    sa.insert(tb.messages).values(
                        sid=f"SM{sid:08d}",
                        direction=direction,
                        from_number="+15550000000",
                        to_number="+15550000001",
                        body="hi",
                        status=status,
                        play="trial" if direction == "outbound" else None,
                        num_segments=1,
                        contact_type="Lead",
                        contact_id=cid,
                        created_at=at,
                        updated_at=at,
                    )
                )
                if direction == "outbound":
                    _links(conn, arm, i, cid, sid=sid, at=at)
            # opportunities: the first `opps` within the window; the next one 40 days on
            # (outside the 30-day window) and one before the decision (not after it)
            when = None
            if i < opps:
                when = first + timedelta(days=3)
            elif i == opps:
                when = first + timedelta(days=40)
            elif i == opps + 1:
                when = first - timedelta(days=2)
            if when is not None:
                oid = f"006{cid}"
                conn.execute(
                    sa.insert(tb.opportunities).values(
                        crm_object_type="Opportunity",
                        crm_id=oid,
                        stage="Prospecting",
                        created_at=when,
                        is_closed=False,
                        is_won=False,
                        deleted=False,
                        updated_at=when,
                    )
                )
                conn.execute(
                    sa.insert(tb.opportunity_contacts).values(
                        opportunity_id=oid, contact_type="Lead", contact_id=cid
                    )
                )
    # a play without variants (its holdout is not an experiment arm), a decision before
    # the period and a blocked one (consent: no arm, like the holdout checked last): none
    # is in the section
    conn.execute(
        sa.insert(tb.decision_log).values(
            contact_type="Lead",
            contact_id="blocked-1",
            verdict="block",
            reasons=["consent_required"],
            play="trial",
            variant="question",
            at=T0,
        )
    )
    conn.execute(
        sa.insert(tb.decision_log).values(
            contact_type="Lead",
            contact_id="direct-000",
            verdict="block",
            reasons=["holdout"],
            play="other",
            at=T0,
        )
    )
    conn.execute(
        sa.insert(tb.decision_log).values(
            contact_type="Lead",
            contact_id="old-1",
            verdict="allow",
            reasons=[],
            play="trial",
            variant="direct",
            at=SINCE - timedelta(days=1),
        )
    )


def _wilson(x: int, n: int) -> tuple[float, float]:
    p = x / n
    a = 2 * n * p + Z * Z
    b = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p))
    c = 2 * (n + Z * Z)
    return (a - b) / c, (a + b) / c


def _reference(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """Newcombe's method 10 from its definition (independent of connector.report.lift)."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = _wilson(x1, n1)
    l0, u0 = _wilson(x0, n0)
    d = p1 - p0
    return d - math.hypot(p1 - l1, u0 - p0), d + math.hypot(u1 - p1, p0 - l0)


def test_newcombe_matches_the_published_example() -> None:
    """Newcombe (1998), Table II, example (a): 56/70 vs 48/80, method 10: 0.0524, 0.3339."""
    low, high = newcombe(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.fixture
def report_json(store: SqlStore) -> dict[str, object]:
    with store.begin() as conn:
        _build(conn)
    with store.begin() as conn:
        report = build_report(conn, Scope(SINCE, UNTIL))
    text = Console(record=True, width=160)
    print_report(report, text)
    shown = text.export_text()
    assert "Variants" in shown
    assert "question" in shown
    narrow = Console(record=True, width=80)  # COLUMNS=80: every header and cell whole
    print_report(report, narrow)
    shown_80 = narrow.export_text()
    assert "Variant differences, trial" in shown_80
    assert "opportunity" in shown_80
    assert "…" not in shown_80
    html = to_html(report)
    assert "<h2>Variants</h2>" in html
    chart = re.search(
        r'<svg [^>]*aria-label="Variant differences with 95% interval".*?</svg>', html, re.DOTALL
    )
    assert chart is not None
    # each pair once: direct vs question, and each against the holdout; 4 metrics each
    assert chart.group(0).count("<circle ") == (1 + 2) * 4
    data: dict[str, object] = json.loads(to_json(report))
    return data


def test_per_variant_figures_are_exact(report_json: dict[str, object]) -> None:
    section = report_json["variants"]
    assert isinstance(section, dict)
    arms = {a["variant"]: a for a in section["arms"]}
    assert set(arms) == set(ARMS)
    for name, (n, sent, replied, meetings, opps) in ARMS.items():
        a = arms[name]
        assert a["play"] == "trial"
        got = (a["contacts"], a["sent"], a["replied"], a["meetings"], a["opportunities"])
        assert got == (n, sent, replied, meetings, opps)
        assert a["sent_rate"] == sent / n
        assert a["reply_rate"] == replied / n
        assert a["meeting_rate"] == meetings / n
        assert a["opportunity_rate"] == opps / n
        assert a["clicked"] == LINKS[name][1]
        assert a["click_rate"] == LINKS[name][1] / n


def test_per_play_clicks_are_exact(report_json: dict[str, object]) -> None:
    plays = report_json["plays"]
    assert isinstance(plays, list)
    [trial] = [p for p in plays if p["play"] == "trial"]
    with_link = sum(w for w, _ in LINKS.values())
    clicked = sum(c for _, c in LINKS.values())
    assert (trial["texts_with_links"], trial["contacts_with_links"]) == (with_link, with_link)
    assert trial["contacts_clicked"] == clicked
    assert trial["click_rate"] == clicked / with_link
    assert trial["clicks_not_counted"] == 2  # the previewer of each arm's contact 0


def test_differences_match_reference_intervals(report_json: dict[str, object]) -> None:
    section = report_json["variants"]
    assert isinstance(section, dict)
    found = {(c["variant"], c["against"], c["metric"]): c for c in section["comparisons"]}
    index = {"replied": 2, "meetings": 3, "opportunities": 4}
    # two variants, each against the other and the holdout, on four metrics
    assert len(found) == 2 * 2 * 4

    def count(arm: str, metric: str) -> int:
        return LINKS[arm][1] if metric == "clicked" else ARMS[arm][index[metric]]

    for (arm, against, metric), c in found.items():
        x1, n1 = count(arm, metric), ARMS[arm][0]
        x0, n0 = count(against, metric), ARMS[against][0]
        low, high = _reference(x1, n1, x0, n0)
        assert c["lift"] == pytest.approx(x1 / n1 - x0 / n0, abs=1e-12)
        assert c["ci_low"] == pytest.approx(max(-1.0, low), abs=1e-12)
        assert c["ci_high"] == pytest.approx(min(1.0, high), abs=1e-12)
    # 18/60 vs 10/50 replies: large enough to read; 2/50 vs 1/40 opportunities: not
    assert found[("direct", "question", "replied")]["too_small"] is False
    assert found[("question", "holdout", "opportunities")]["too_small"] is True
    assert found[("direct", "holdout", "meetings")]["too_small"] is True  # 2 of 40
    # 12/60 vs 7/50 clicks: readable; against the holdout's 0/40: too few events there
    assert found[("direct", "question", "clicked")]["too_small"] is False
    assert found[("direct", "holdout", "clicked")]["too_small"] is True
