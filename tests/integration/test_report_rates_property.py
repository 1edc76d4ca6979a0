"""No rate of the report can exceed 100%, and no funnel step (texted, meeting, opportunity,
won) exceeds the one before, whatever the store holds: texts, replies and opt-outs in any
order, strangers' STOPs, CRM opt-outs, holdout arms, several plays, meetings booked and
opportunities moving through stages, with and without a stage mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.report.model import GroupBy, PipelineDefs, Report, Scope
from connector.report.queries import build_report
from connector.store import SqlStore
from connector.store import tables as tb
from tests.integration import report_kit as kit
from tests.migrated import upgrade

CONTACTS = [f"p{i}" for i in range(6)]
HOURS = st.integers(min_value=-48, max_value=24 * 10)
EVENT = st.one_of(
    st.tuples(
        st.just("text"),
        st.sampled_from(CONTACTS),
        HOURS,
        st.sampled_from(["a", "b"]),
        st.sampled_from(["delivered", "failed"]),
    ),
    st.tuples(st.just("reply"), st.sampled_from(CONTACTS), HOURS),
    st.tuples(
        st.just("stop"),
        st.sampled_from([*CONTACTS, "stranger"]),
        HOURS,
        st.sampled_from(["keyword", "crm"]),
    ),
    st.tuples(
        st.just("arm"),
        st.sampled_from(CONTACTS),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["holdout", "holdout_treated"]),
    ),
    st.tuples(st.just("meeting"), st.sampled_from(CONTACTS), HOURS),
    st.tuples(
        st.just("opp"),
        st.lists(st.sampled_from(CONTACTS), min_size=1, max_size=2, unique=True),
        HOURS,
        st.lists(
            st.tuples(
                st.sampled_from(["Prospecting", "Discovery", "Proposal", "Closed Won"]),
                st.floats(min_value=0, max_value=20),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda step: step[0],  # one entry per stage, as the history holds
        ),
    ),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('rates')) / 'r.db'}"
    upgrade(url)
    s = SqlStore.from_url(url)
    yield s
    s.close()


def _load(conn: sa.Connection, events: list[tuple[object, ...]]) -> None:
    for table in (
        tb.messages,
        tb.consent_ledger,
        tb.decision_log,
        tb.contact_state,
        tb.crm_outbox,
        tb.opportunities,
        tb.opportunity_contacts,
        tb.opportunity_stages,
    ):
        conn.execute(sa.delete(table))
    b = kit.Builder(conn)
    for cid in CONTACTS:
        b.contact(cid, "t" + cid[-1:])
    for n, event in enumerate(events):
        kind, cid = event[0], str(event[1])
        if kind == "opp":
            _, cids, hours, history = event
            steps = sorted(history, key=lambda step: step[1])  # type: ignore[call-overload]
            at = kit.T0 + timedelta(hours=int(hours))  # type: ignore[call-overload]
            b.opportunity(f"O{n}", list(cids), at, steps, 100.0)  # type: ignore[call-overload]
        elif kind == "text":
            _, _, hours, play, status = event
            b.message(cid, "outbound", kit.T0 + timedelta(hours=int(hours)), str(status), str(play))  # type: ignore[call-overload]
        elif kind == "reply":
            b.message(cid, "inbound", kit.T0 + timedelta(hours=int(event[2])), "received")  # type: ignore[call-overload]
        elif kind == "stop":
            b.opt_out(cid, kit.T0 + timedelta(hours=int(event[2])), source=str(event[3]))  # type: ignore[call-overload]
        elif kind == "arm":
            b.decision(
                cid, "send" if event[3] != "holdout" else "block", [str(event[3])], str(event[2])
            )
        else:
            at = kit.T0 + timedelta(hours=int(event[2]))  # type: ignore[call-overload]
            conn.execute(
                sa.update(tb.contact_state)
                .where(tb.contact_state.c.crm_id == cid)
                .values(disposition="confirmed", crm_modstamp=at)
            )


def _rates(report: Report) -> list[float | None]:
    out: list[float | None] = []
    steps = [n for _name, n in report.funnel]
    assert all(n is not None for n in steps)
    texted, _replied, meeting, opportunity, won = steps
    assert texted >= meeting >= opportunity >= won >= 0, report.funnel  # type: ignore[operator]
    for g in [report.total, *report.groups]:
        assert g.contacts >= g.meetings >= g.opportunities >= g.won, g
        out += [g.contact_rate, g.reply_rate, g.meeting_rate, g.opt_out_rate, g.delivery_rate]
        out += [g.opportunity_rate, g.won_rate, g.win_rate]
        assert g.reached <= g.contacts
        assert g.replied <= g.contacts
        assert g.meetings <= g.contacts
        assert g.opted_out <= g.contacts
    for p in report.plays:
        out.append(p.conversion_rate)
        assert p.converted <= p.contacts
        if p.lift.exposed:  # the row and its lift speak of the same population
            assert (p.lift.exposed, p.lift.exposed_converted) == (p.contacts, p.converted)
        for lift in (p.lift, p.reply_lift, p.meeting_lift, p.opportunity_lift):
            if lift is not None:
                out += [lift.exposed_rate, lift.holdout_rate]
    out += [t.rate for t in report.opt_out_trend]
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(EVENT, max_size=30),
    by=st.sampled_from([None, *GroupBy]),
    pipeline=st.sampled_from([PipelineDefs(), kit.PIPELINE]),
)
def test_no_rate_above_100_percent_and_a_monotone_funnel(
    scratch: SqlStore,
    events: list[tuple[object, ...]],
    by: GroupBy | None,
    pipeline: PipelineDefs,
) -> None:
    with scratch.begin() as conn:
        _load(conn, events)
        report = build_report(conn, Scope(kit.SINCE, kit.UNTIL, by, pipeline=pipeline))
        conn.rollback()
    for rate in _rates(report):
        assert rate is None or 0.0 <= rate <= 1.0
