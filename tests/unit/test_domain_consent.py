"""The consent ledger's rules: opt-out is absolute, lifted only by an explicit later
opt-in; CRM values enter only on those terms; every record sharing the number agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.consent import (
    EXPLICIT_OPT_IN_SOURCES,
    apply_crm_consent,
    corrections,
    current,
    decide_crm_consent,
    disagreeing,
    effective,
    fields_for,
    fields_to_write,
    from_keyword,
    from_provider_block,
    is_suppressed,
)
from connector.domain.keywords import Sender, classify
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
)

PHONE = "+14155550123"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OUT, IN, UNKNOWN = ConsentStatus.OPTED_OUT, ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN


def entry(status: ConsentStatus, source: ConsentSource, minutes: int = 0) -> ConsentRecord:
    return ConsentRecord(
        PHONE, status, ConsentScope.MESSAGING_SERVICE, source, T0 + timedelta(minutes=minutes)
    )


# --- current --------------------------------------------------------------------------


def test_empty_ledger_is_unknown() -> None:
    assert current([]) is UNKNOWN
    assert effective([]) is None


def test_latest_entry_decides_in_time_order_not_append_order() -> None:
    history = [entry(IN, ConsentSource.WEB_FORM, 10), entry(IN, ConsentSource.IMPORT, 0)]
    assert current(history) is IN
    assert effective(history) == history[1]  # the first of a run is when it took effect


@pytest.mark.parametrize("source", sorted(EXPLICIT_OPT_IN_SOURCES))
def test_an_explicit_later_opt_in_lifts_an_opt_out(source: ConsentSource) -> None:
    assert current([entry(OUT, ConsentSource.KEYWORD, 0), entry(IN, source, 5)]) is IN


@pytest.mark.parametrize(
    "source", [ConsentSource.IMPORT, ConsentSource.CRM, ConsentSource.PROVIDER_BLOCK]
)
def test_a_non_explicit_opt_in_never_lifts_an_opt_out(source: ConsentSource) -> None:
    history = [entry(OUT, ConsentSource.KEYWORD, 0), entry(IN, source, 5)]
    assert current(history) is OUT
    assert is_suppressed(history)


def test_an_opt_in_at_the_same_instant_does_not_lift_it() -> None:
    for history in (
        [entry(OUT, ConsentSource.KEYWORD), entry(IN, ConsentSource.KEYWORD)],
        [entry(IN, ConsentSource.KEYWORD), entry(OUT, ConsentSource.KEYWORD)],
    ):
        assert current(history) is OUT


def test_unknown_never_overrides_a_known_status() -> None:
    assert current([entry(OUT, ConsentSource.CRM, 0), entry(UNKNOWN, ConsentSource.CRM, 9)]) is OUT
    assert current([entry(IN, ConsentSource.CRM, 0), entry(UNKNOWN, ConsentSource.CRM, 9)]) is IN


def test_a_stop_after_an_opt_in_wins_again() -> None:
    history = [
        entry(OUT, ConsentSource.KEYWORD, 0),
        entry(IN, ConsentSource.KEYWORD, 5),
        entry(OUT, ConsentSource.PROVIDER_BLOCK, 6),
    ]
    assert current(history) is OUT


def test_rejects_naive_timestamps() -> None:
    naive = ConsentRecord(
        PHONE,
        OUT,
        ConsentScope.SENDER,
        ConsentSource.KEYWORD,
        datetime(2026, 1, 1),  # noqa: DTZ001
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        current([naive])


ledger_entries = st.builds(
    entry,
    st.sampled_from(list(ConsentStatus)),
    st.sampled_from(list(ConsentSource)),
    st.integers(0, 6),  # few instants, so ties are common
)


def _oracle(history: list[ConsentRecord]) -> ConsentStatus:
    """Restated independently: the latest opt-out is undone only by an explicit opt-in
    strictly after it; otherwise the latest known status."""
    known = [e for e in history if e.status is not UNKNOWN]
    outs = [e.at for e in known if e.status is OUT]
    if not outs:
        return IN if known else UNKNOWN
    last_out = max(outs)
    lifted = any(
        e.status is IN and e.source in EXPLICIT_OPT_IN_SOURCES and e.at > last_out for e in known
    )
    return IN if lifted else OUT


@settings(max_examples=400, deadline=None)
@given(st.lists(ledger_entries, max_size=12))
def test_current_matches_the_rule_restated(history: list[ConsentRecord]) -> None:
    assert current(history) is _oracle(history)


@settings(max_examples=200, deadline=None)
@given(st.lists(ledger_entries, max_size=10), ledger_entries)
def test_appending_a_non_explicit_entry_never_lifts_a_suppression(
    history: list[ConsentRecord], new: ConsentRecord
) -> None:
    if is_suppressed(history) and new.source not in EXPLICIT_OPT_IN_SOURCES:
        assert is_suppressed([*history, new])


# --- CRM values -----------------------------------------------------------------------

NOW = T0 + timedelta(hours=1)


def decide(
    history: list[ConsentRecord],
    status: ConsentStatus,
    source: ConsentSource | None,
    stamp: datetime | None,
) -> tuple[ConsentRecord | None, str]:
    decision = decide_crm_consent(
        history, status, source, stamp, phone=PHONE, observed_at=NOW, evidence_text="Lead/1"
    )
    return decision.record, decision.reason


def test_a_crm_opt_out_suppresses_at_once_even_without_a_source() -> None:
    record, reason = decide([entry(IN, ConsentSource.WEB_FORM)], OUT, None, None)
    assert record is not None
    assert record.status is OUT
    assert record.source is ConsentSource.CRM
    assert record.at == NOW
    assert record.evidence_text == "Lead/1"
    assert "suppressed" in reason
    assert current([entry(IN, ConsentSource.WEB_FORM), record]) is OUT


def test_a_crm_opt_out_keeps_its_own_time_when_it_is_plausible() -> None:
    stamp = T0 + timedelta(minutes=30)
    record, _ = decide([entry(IN, ConsentSource.WEB_FORM)], OUT, ConsentSource.MANUAL, stamp)
    assert record is not None
    assert record.at == stamp
    assert record.source is ConsentSource.MANUAL


def test_a_crm_opt_out_with_a_stale_timestamp_still_suppresses() -> None:
    history = [entry(IN, ConsentSource.WEB_FORM, 50)]
    record, _ = decide(history, OUT, None, T0)  # timestamp before the opt-in
    assert record is not None
    assert current([*history, record]) is OUT


def test_the_echo_of_a_lifted_opt_out_is_not_replayed() -> None:
    history = [entry(OUT, ConsentSource.KEYWORD, 0), entry(IN, ConsentSource.KEYWORD, 10)]
    # The CRM still shows the opt-out we wrote, before our opt-in write has landed.
    record, reason = decide(history, OUT, ConsentSource.KEYWORD, T0 + timedelta(milliseconds=400))
    assert record is None
    assert "since lifted" in reason


def test_a_crm_opt_in_needs_source_and_timestamp() -> None:
    for source, stamp in ((None, T0), (ConsentSource.WEB_FORM, None), (None, None)):
        record, reason = decide([], IN, source, stamp)
        assert record is None
        assert "source and a timestamp" in reason
    assert apply_crm_consent([], IN, None, T0, phone=PHONE, observed_at=NOW) is None


def test_a_crm_opt_in_with_source_and_timestamp_is_taken() -> None:
    record, _ = decide([], IN, ConsentSource.IMPORT, T0)
    assert record == ConsentRecord(
        PHONE, IN, ConsentScope.MESSAGING_SERVICE, ConsentSource.IMPORT, T0, None, "Lead/1"
    )


def test_a_crm_opt_in_over_an_opt_out_must_be_explicit_and_later() -> None:
    history = [entry(OUT, ConsentSource.KEYWORD, 10)]
    record, reason = decide(history, IN, ConsentSource.WEB_FORM, T0 + timedelta(minutes=5))
    assert record is None
    assert "explicit opt-in" in reason
    record, _ = decide(history, IN, ConsentSource.IMPORT, T0 + timedelta(minutes=20))
    assert record is None
    record, _ = decide(history, IN, ConsentSource.WEB_FORM, T0 + timedelta(minutes=20))
    assert record is not None
    assert current([*history, record]) is IN


def test_a_future_dated_crm_opt_in_is_clamped_so_a_later_stop_wins() -> None:
    record, _ = decide([], IN, ConsentSource.WEB_FORM, NOW + timedelta(days=1))
    assert record is not None
    assert record.at == NOW
    stop = entry(OUT, ConsentSource.KEYWORD, 61)
    assert current([record, stop]) is OUT


def test_nothing_to_append_when_the_crm_agrees_or_is_unknown() -> None:
    history = [entry(OUT, ConsentSource.KEYWORD)]
    assert decide(history, OUT, None, None) == (None, "ledger already opted_out")
    record, reason = decide(history, UNKNOWN, None, None)
    assert record is None
    assert "unknown" in reason


@settings(max_examples=400, deadline=None)
@given(
    st.lists(ledger_entries, max_size=8),
    st.sampled_from(list(ConsentStatus)),
    st.none() | st.sampled_from(list(ConsentSource)),
    st.none() | st.integers(-30, 120).map(lambda m: T0 + timedelta(minutes=m)),
)
def test_crm_values_follow_the_ledger_rules(
    history: list[ConsentRecord],
    status: ConsentStatus,
    source: ConsentSource | None,
    stamp: datetime | None,
) -> None:
    before = current(history)
    record, reason = decide(history, status, source, stamp)
    assert reason
    after = current([*history, record]) if record is not None else before
    if record is not None:
        assert record.status is status
        assert record.phone == PHONE
        assert record.at <= NOW or record.at == max(e.at for e in history)
        assert after is status  # whatever is appended takes effect
    if status is OUT and before is not OUT and record is None:
        # Only the echo of an opt-out the ledger already holds is skipped.
        assert stamp is not None
        assert any(e.status is OUT and abs(e.at - stamp) <= timedelta(seconds=1) for e in history)
    if status is IN and (source is None or stamp is None):
        assert record is None
    if before is OUT and after is not OUT:
        assert source in EXPLICIT_OPT_IN_SOURCES
        assert stamp is not None


# --- keyword and provider entries -----------------------------------------------------


def test_keyword_entries_carry_their_evidence() -> None:
    stop = classify("Stop.", sid="SM1", at=T0)
    assert stop is not None
    record = from_keyword(stop, phone=PHONE, at=NOW)
    assert record is not None
    assert (record.status, record.source, record.at) == (OUT, ConsentSource.KEYWORD, T0)
    assert (record.evidence_sid, record.evidence_text) == ("SM1", "Stop.")

    start = classify("start", sid="SM2", sender=Sender(opted_out=True))
    assert start is not None
    record = from_keyword(start, phone=PHONE, at=NOW, scope=ConsentScope.SENDER)
    assert record is not None
    assert (record.status, record.at, record.scope) == (IN, NOW, ConsentScope.SENDER)

    help_ = classify("HELP")
    assert help_ is not None
    assert from_keyword(help_, phone=PHONE, at=NOW) is None


def test_a_provider_block_is_an_opt_out() -> None:
    record = from_provider_block(phone=PHONE, at=T0, message_sid="SM9", error_code=21610)
    assert record.status is OUT
    assert record.source is ConsentSource.PROVIDER_BLOCK
    assert record.evidence_sid == "SM9"
    assert record.evidence_text == "provider error 21610"
    assert is_suppressed([entry(IN, ConsentSource.WEB_FORM, -5), record])


# --- writing the CRM ------------------------------------------------------------------


def test_fields_to_write_are_the_canonical_consent_fields() -> None:
    assert fields_to_write(OUT, T0, ConsentSource.KEYWORD) == {
        "consent_status": "opted_out",
        "consent_timestamp": T0,
        "consent_source": "keyword",
    }
    assert fields_for(entry(IN, ConsentSource.WEB_FORM)) == {
        "consent_status": "opted_in",
        "consent_timestamp": T0,
        "consent_source": "web_form",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        fields_to_write(OUT, datetime(2026, 1, 1), ConsentSource.KEYWORD)  # noqa: DTZ001


def state(kind: str, id_: str, consent: ConsentStatus, *, deleted: bool = False) -> ContactState:
    return ContactState(CrmRef(kind, id_), PHONE, consent=consent, deleted=deleted)


def test_disagreeing_records_are_those_that_say_otherwise() -> None:
    lead = state("Lead", "00Q1", IN)
    contact = state("Contact", "0031", OUT)
    gone = state("Contact", "0032", UNKNOWN, deleted=True)
    unknown = state("Lead", "00Q2", UNKNOWN)
    assert disagreeing(OUT, [lead, contact, gone, unknown]) == (lead.ref, unknown.ref)
    assert disagreeing(UNKNOWN, [lead, contact]) == ()


def test_corrections_bring_every_record_sharing_the_number_in_line() -> None:
    history = [entry(IN, ConsentSource.WEB_FORM, 0), entry(OUT, ConsentSource.KEYWORD, 5)]
    lead = state("Lead", "00Q1", IN)
    contact = state("Contact", "0031", OUT)
    fixes = corrections(history, [lead, contact])
    assert fixes == ((lead.ref, fields_for(history[1])),)
    assert corrections([], [lead]) == ()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ledger_entries, max_size=8),
    st.lists(st.sampled_from(list(ConsentStatus)), max_size=5),
)
def test_opt_out_invariant_holds_after_applying_the_corrections(
    history: list[ConsentRecord], consents: list[ConsentStatus]
) -> None:
    states = [state("Lead", str(i), c) for i, c in enumerate(consents)]
    fixed = dict(corrections(history, states))
    after = [
        ContactState(s.ref, s.phone, consent=ConsentStatus(str(fixed[s.ref]["consent_status"])))
        if s.ref in fixed
        else s
        for s in states
    ]
    if is_suppressed(history):
        assert all(s.consent is OUT for s in after)
    assert disagreeing(current(history), after) == ()
