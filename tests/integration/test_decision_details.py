"""The decision log keeps each reason's detail and the evaluation's inputs (issue: "every
evaluation is persisted with its inputs and reasons"; quiet hours record the zone's
provenance), and `explain` shows them. Real governance, real SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.domain.caps import SendKind, SentRecord
from connector.domain.governance import ContactContext, SendCandidate, evaluate
from connector.domain.model import ConsentStatus, Verdict
from connector.domain.plays import FieldPredicate, PredicateOp
from connector.domain.policy import Policy, Suppression
from connector.engine.decisions import record
from connector.engine.explain import Explanation, explain
from connector.store import SqlStore
from connector.store import tables as tb
from tests.migrated import upgrade
from tests.unit.governance_kit import (
    CRM_CHICAGO,
    NOON_NY,
    NYC,
    make_ctx,
    make_play,
    play_send,
    policy_with,
)

LATE_NY = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 in New York, 22:00 in Chicago
QUIET = "outside the quiet-hours window in the recipient's local time"


def _decisions(found: Explanation) -> list[dict[str, Any]]:
    """`smsync explain --json`'s decisions, through a JSON round trip as the CLI prints them."""
    out: list[dict[str, Any]] = json.loads(json.dumps(found.as_json()))["decisions"]
    return out


def _raw_details(store: SqlStore) -> list[Any]:
    with store.begin() as conn:
        return list(conn.execute(sa.select(tb.decision_log.c.details)).scalars())


def test_quiet_hours_deferral_keeps_zone_provenance(store: SqlStore) -> None:
    play = make_play(holdout=20.0)
    ctx = make_ctx(contact_id="00Q000000000101")  # no CRM zone: the area code decides
    ctx = ContactContext(
        ctx.state,
        ctx.values,
        sends=(SentRecord(LATE_NY - timedelta(days=3), SendKind.PLAY, "welcome"),),
    )
    fired = LATE_NY - timedelta(minutes=1)
    result = evaluate(play_send(play, fired), ctx, policy_with(play), LATE_NY)
    assert result.verdict is Verdict.DEFER
    assert result.holdout is not None
    assert not result.holdout.held_out
    with store.begin() as conn:
        record(conn, result, LATE_NY, contact=ctx.state.ref, phone=NYC, play=play.name)
        found = explain(conn, ctx.state.ref.id)

    text = "\n".join(found.lines())
    assert (
        "    quiet_hours: outside America/New_York 08:00-21:00 from area_code (it is 23:00"
        " there); deferred to 2025-06-11T12:00"
    ) in text
    assert f"({QUIET})" in text
    assert "    holdout_treated: bucket " in text
    assert (
        "    inputs: zone America/New_York (from area_code); state NY (from area_code);"
        " purpose marketing; consent opted_in; kind play; "
        f"triggered {fired.isoformat()}; prior sends 1; holdout 20.0% bucket "
    ) in text

    [decision] = _decisions(found)
    assert [r["code"] for r in decision["reasons"]] == ["quiet_hours", "holdout_treated"]
    quiet = decision["reasons"][0]
    assert quiet["meaning"] == QUIET
    assert quiet["detail"].startswith("outside America/New_York 08:00-21:00 from area_code (")
    inputs = decision["inputs"]
    assert inputs["zones"] == ["America/New_York"]
    assert inputs["zone_source"] == "area_code"
    assert inputs["consent"] == "opted_in"
    assert inputs["kind"] == "play"
    assert inputs["triggered_at"] == fired.isoformat()
    assert inputs["prior_sends"] == 1
    assert inputs["holdout"]["percent"] == 20.0
    assert inputs["holdout"]["held_out"] is False
    assert inputs["holdout"]["bucket"] == result.holdout.bucket
    assert decision["phone"] == "+1212***0123"


def test_a_crm_zone_is_named_as_the_source_for_a_manual_send(store: SqlStore) -> None:
    play = make_play()
    ctx = make_ctx(zones=CRM_CHICAGO, contact_id="00Q000000000102")
    candidate = SendCandidate(SendKind.MANUAL, play, body="Hi, this is your rep.")
    result = evaluate(candidate, ctx, policy_with(play), LATE_NY)
    with store.begin() as conn:
        record(conn, result, LATE_NY, contact=ctx.state.ref, phone=NYC, play=play.name)
        found = explain(conn, ctx.state.ref.id)

    text = "\n".join(found.lines())
    assert (
        "quiet_hours: outside America/Chicago 08:00-21:00 from crm_field (it is 22:00 there);"
        " deferred" in text
    )
    # the CRM's zone and the number's area code both hold, each named with its source
    assert (
        "    inputs: zones America/Chicago (from crm_field), America/New_York (from area_code);"
        " state NY (from area_code); purpose marketing; consent opted_in; kind manual;" in text
    )
    assert "triggered" not in text  # a manual send has no trigger
    [decision] = _decisions(found)
    assert decision["inputs"]["zone_source"] == "crm_field"
    assert decision["inputs"]["holdout"] is None  # no holdout for manual sends


def test_a_block_before_the_zone_check_records_no_zone(store: SqlStore) -> None:
    play = make_play()
    ctx = make_ctx(consent=ConsentStatus.OPTED_OUT, contact_id="00Q000000000103")
    result = evaluate(play_send(play, NOON_NY), ctx, policy_with(play), NOON_NY)
    assert [r.code for r in result.reasons] == ["opted_out"]
    with store.begin() as conn:
        record(conn, result, NOON_NY, contact=ctx.state.ref, phone=NYC, play=play.name)
        found = explain(conn, ctx.state.ref.id)

    # the purpose is named: the detail and the inputs say which consent was checked
    assert (
        "    opted_out: the number opted out of every purpose (the play's purpose: marketing)"
        " (the number opted out (of every purpose, or of the play's); nothing"
    ) in "\n".join(found.lines())
    [decision] = _decisions(found)
    assert decision["inputs"]["zones"] is None
    assert decision["inputs"]["zone_source"] is None
    assert decision["inputs"]["consent"] == "opted_out"
    assert decision["inputs"]["purpose"] == "marketing"


def test_no_phone_number_reaches_details(store: SqlStore) -> None:
    """A do-not-text list keyed by number puts the number in the reason's detail."""
    play = make_play()
    dnt = FieldPredicate("phone", PredicateOp.IN, (NYC,))
    policy = Policy(suppression=Suppression(exclusions=(dnt,)), plays={play.name: play})
    base = make_ctx(contact_id="00Q000000000104")
    ctx = ContactContext(base.state, {**base.values, "phone": NYC})
    result = evaluate(play_send(play, NOON_NY), ctx, policy, NOON_NY)
    assert [str(r) for r in result.reasons] == [f"segment_excluded: phone in {NYC}"]
    with store.begin() as conn:
        record(conn, result, NOON_NY, contact=ctx.state.ref, phone=NYC, play=play.name)
        found = explain(conn, ctx.state.ref.id)

    [raw] = _raw_details(store)
    stored = json.dumps(raw)
    assert raw["reasons"][0]["code"] == "segment_excluded"
    assert NYC not in stored
    assert "2125550123" not in stored
    assert "phone in +1212***0123" in stored  # masked, still telling numbers apart
    assert NYC not in json.dumps(found.as_json())
    assert NYC not in "\n".join(found.lines())


def test_0004_keeps_old_decisions_and_explain_still_prints_them(db_url: str) -> None:
    """A row logged before 0004 (codes only) survives the migration and still explains."""
    assert upgrade(db_url, "0003") == ["0001", "0002", "0003"]
    old = sa.table(
        "decision_log",
        sa.column("contact_type"),
        sa.column("contact_id"),
        sa.column("phone"),
        sa.column("verdict"),
        sa.column("reasons", sa.JSON),
        sa.column("play"),
        sa.column("send_at", sa.DateTime(timezone=True)),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    ref = make_ctx(contact_id="00Q000000000105").state.ref
    store = SqlStore.from_url(db_url)
    try:
        with store.begin() as conn:
            conn.execute(
                sa.insert(old).values(
                    contact_type=ref.object_type,
                    contact_id=ref.id,
                    phone=NYC,
                    verdict="defer",
                    reasons=["quiet_hours"],
                    play="speed_to_lead",
                    send_at=NOON_NY,
                    at=LATE_NY - timedelta(days=1),
                )
            )
        assert upgrade(db_url) == [
            "0004",
            "0005",
            "0006",
            "0007",
            "0008",
            "0009",
            "0010",
            "0011",
            "0012",
            "0013",
            "0014",
            "0015",
            "0016",
        ]

        play = make_play()
        ctx = make_ctx(contact_id=ref.id)
        result = evaluate(play_send(play, LATE_NY), ctx, policy_with(play), LATE_NY)
        with store.begin() as conn:
            record(conn, result, LATE_NY, contact=ref, phone=NYC, play=play.name)
            found = explain(conn, ref.id)
    finally:
        store.close()

    lines = found.lines()
    assert len(found.entries) == 2
    assert found.entries[1].details is None
    new_at = lines.index(next(x for x in lines if x.startswith("2025-06-11 03:00:00 UTC")))
    old_at = lines.index(next(x for x in lines if x.startswith("2025-06-10 03:00:00 UTC")))
    assert new_at < old_at
    assert lines[old_at + 1 :] == [f"    quiet_hours: {QUIET}"]  # code and meaning, no inputs
    assert lines[new_at + 2].startswith("    inputs: zone America/New_York (from area_code);")

    new, legacy = _decisions(found)
    assert legacy["reasons"] == [{"code": "quiet_hours", "detail": None, "meaning": QUIET}]
    assert legacy["inputs"] is None
    assert legacy["phone"] == "+1212***0123"
    assert new["inputs"]["zone_source"] == "area_code"
