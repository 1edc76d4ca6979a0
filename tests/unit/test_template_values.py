"""Built-in template tokens from a contact's segments, CRM date values read as instants,
and the clock's signals (a date coming due, a form submitted) as the plays read them."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import load_plays, to_policy
from connector.domain import plays as p
from connector.domain.instants import parse_instant
from connector.domain.model import ContactState, CrmRef, TimeZones, TzSource
from connector.domain.signals import SignalKind, changes, date_due
from connector.domain.template_values import token_values
from connector.domain.templates import Template, TokenSpec, scan
from connector.engine.contact_context import rep_activity
from connector.engine.plan import PlaysPlanner, play_signals
from connector.engine.timed import _Watch, due

ROOT = Path(__file__).resolve().parents[2]
REF = CrmRef("Contact", "003A")
NY_PHONE = "+12125550123"  # area code 212: America/New_York
AT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-23T15:00:00.000+0000", datetime(2026, 11, 23, 15, tzinfo=UTC)),
        ("2026-11-23T15:00:00.000Z", datetime(2026, 11, 23, 15, tzinfo=UTC)),
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
        ("1795446000000", datetime(2026, 11, 23, 15, tzinfo=UTC)),
        ("2026-11-23T10:00:00-05:00", datetime(2026, 11, 23, 15, tzinfo=UTC)),
    ],
)
def test_crm_date_values_read_as_instants(raw: str, expected: datetime) -> None:
    assert parse_instant(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "next tuesday", "2026-13-40", "12"])
def test_unreadable_dates_are_none_never_an_error(raw: str | None) -> None:
    assert parse_instant(raw) is None


def test_builtin_tokens_come_from_segments_and_dates_read_in_the_recipients_zone() -> None:
    state = ContactState(
        REF,
        NY_PHONE,
        segments={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "owner_name": "Dana Whitfield",
            "meeting_time": "2026-11-24T20:00:00.000+0000",
            "renewal_date": "2027-01-15",
        },
    )
    values = token_values(state)
    assert values["full_name"] == "Ada Lovelace"
    assert values["owner_first_name"] == "Dana"
    assert values["meeting_time"] == "3:00 PM EST"
    assert values["meeting_date"] == "Tuesday, November 24"
    assert values["renewal_date"] == "January 15, 2027"


def test_a_crm_time_zone_beats_the_area_code_for_date_tokens() -> None:
    state = ContactState(
        REF,
        NY_PHONE,
        time_zones=TimeZones(("America/Los_Angeles",), TzSource.CRM_FIELD),
        segments={"meeting_time": "2026-07-01T16:30:00Z"},
    )
    values = token_values(state)
    assert values["meeting_time"] == "9:30 AM PDT"
    assert values["meeting_date"] == "Wednesday, July 1"


def test_missing_names_stay_missing_so_required_tokens_block() -> None:
    values = token_values(ContactState(REF, NY_PHONE, segments={"first_name": "  "}))
    for name in ("first_name", "full_name", "owner_name", "owner_first_name", "meeting_time"):
        assert values[name] is None, name


def test_a_form_submission_is_a_signal_with_the_form_name() -> None:
    before = ContactState(REF, NY_PHONE, segments={"form_submitted_at": "2026-03-01T10:00:00Z"})
    after = ContactState(
        REF,
        NY_PHONE,
        segments={"form_submitted_at": "2026-03-03T14:58:00Z", "form_name": "demo-request"},
        modstamp=AT,
    )
    found = changes(before, after)
    # each segment's change is a field_changed too; the submission is its own signal
    assert [s.details["field"] for s in found if s.kind is SignalKind.FIELD_CHANGED] == [
        "form_name",
        "form_submitted_at",
    ]
    [signal] = [s for s in found if s.kind is not SignalKind.FIELD_CHANGED]
    assert signal.kind is SignalKind.FORM_SUBMITTED
    [adapted] = play_signals(signal, after, AT)
    assert adapted.kind is p.SignalKind.FORM_SUBMITTED
    assert adapted.details["form"] == "demo-request"
    assert adapted.at == datetime(2026, 3, 3, 14, 58, tzinfo=UTC)
    assert changes(after, after) == ()


@settings(max_examples=300, deadline=None)
@given(
    offset_min=st.integers(min_value=-3000, max_value=3000),
    step_min=st.integers(min_value=1, max_value=240),
)
def test_a_date_comes_due_exactly_once_however_often_the_clock_looks(
    offset_min: int, step_min: int
) -> None:
    """Sweeping (since, now] windows back to back fires a date's reminder once, at most,
    and only while the date is still ahead."""
    meeting = AT + timedelta(minutes=offset_min)
    before = timedelta(hours=2)
    start = AT - timedelta(days=3)
    fired = []
    t = start
    while t < AT + timedelta(days=3):
        nxt = t + timedelta(minutes=step_min)
        signal = date_due(REF, "meeting_time", meeting, before=before, since=t, now=nxt)
        if signal is not None:
            fired.append(nxt)
        t = nxt
    assert len(fired) <= 1
    if fired:
        assert meeting - before <= fired[0] < meeting


def test_the_timed_sweep_fires_each_play_at_its_own_offset() -> None:
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml"))
    planner = PlaysPlanner(policy)
    watch = _Watch.of(list(policy.plays.values()))
    assert watch.inactive_days == (14,)
    assert ("meeting_time", timedelta(hours=2)) in watch.dates
    meeting = AT + timedelta(hours=2)
    segments = {"meeting_time": meeting.isoformat()}
    signals = due(REF, segments, watch, AT - timedelta(minutes=1), AT)
    state = ContactState(REF, NY_PHONE, segments=segments)
    candidates = planner.candidates(state, signals, AT)
    assert [(c.play.name if c.play else None, c.triggered_at) for c in candidates] == [
        ("no_show_prevention", AT)
    ]
    # a renewal 30 days out fires the renewal reminder, not the meeting one
    renewal = {"renewal_date": (AT + timedelta(days=30)).date().isoformat()}
    mark = parse_instant(renewal["renewal_date"])
    assert mark is not None
    signals = due(REF, renewal, watch, AT - timedelta(days=2), AT)
    names = [c.play.name for c in planner.candidates(state, signals, AT) if c.play]
    assert names == ["renewal_reminder"]


def test_inactivity_fires_once_when_the_mark_is_crossed() -> None:
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml"))
    watch = _Watch.of(list(policy.plays.values()))
    last = {"last_activity": (AT - timedelta(days=14, minutes=5)).isoformat()}
    assert due(REF, last, watch, AT - timedelta(minutes=10), AT)[0].kind is SignalKind.INACTIVE
    assert due(REF, last, watch, AT - timedelta(minutes=1), AT) == []


@pytest.mark.parametrize(
    ("raw", "counts"),
    [
        ("2026-03-03T15:01:00Z", False),  # our own activity log moved the field
        ("2026-03-03T18:00:00Z", True),  # the rep, hours after our text
        ("2026-03-02T09:00:00Z", True),  # the rep, the day before
        ("2026-03-03", False),  # a date on a day we wrote: taken as ours
        ("2026-03-02", True),
        ("", False),
    ],
)
def test_our_own_activity_logs_do_not_count_as_the_rep_engaging(raw: str, counts: bool) -> None:
    """We wrote on the record from 15:00 to 15:03 on 3 March."""
    start, end = AT, AT + timedelta(minutes=3)

    def ours(at: datetime, whole_day: bool) -> bool:
        if whole_day:
            return start.date() <= at.date() <= end.date()
        return start - timedelta(minutes=2) <= at <= end + timedelta(minutes=2)

    assert (rep_activity(raw, ours) is not None) is counts


_NAMES = ("a", "b", "x", "ab", "a1", "_x")


@settings(max_examples=3000, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab $${}_x1 ,!")), max_size=30),
    values=st.dictionaries(st.sampled_from(_NAMES), st.sampled_from(("V", "", "w w")), max_size=6),
)
def test_rendering_matches_string_template_wherever_every_token_has_a_value(
    text: str, values: dict[str, str]
) -> None:
    """The chokepoint's pre-split rendering says exactly what `safe_substitute` would,
    `$$` and stray `$` included."""
    template = Template(text, {n: TokenSpec(required=False, fallback="F") for n in _NAMES})
    rendered, missing = template.render(values)
    uses = {u.name for u in scan(text)[0]}
    if not uses <= set(_NAMES):
        assert rendered is None
        assert set(missing) == uses - set(_NAMES)
        return
    filled = {n: (values.get(n) or "").strip() or "F" for n in uses}
    assert rendered == string.Template(text).safe_substitute(filled)
