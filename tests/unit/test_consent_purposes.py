"""Consent by purpose: the ledger's views per purpose, what an opt-out revokes under each
revocation_scope, and the chokepoint checking the play's purpose and naming it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connector.domain import consent as rules
from connector.domain.caps import SendKind
from connector.domain.governance import SendCandidate, evaluate
from connector.domain.keywords import Sender, classify
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
    Verdict,
)
from connector.domain.purposes import PurposePolicy, RevocationScope, is_carrier_keyword, revoked
from tests.unit.governance_kit import NOON_NY, make_ctx, make_play, play_send, policy_with

PHONE = "+14155550123"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OUT, IN, UNKNOWN = ConsentStatus.OPTED_OUT, ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN
PURPOSE = PurposePolicy(scope=RevocationScope.PURPOSE)
REMINDER = ("meeting_reminder", "informational")


def entry(
    status: ConsentStatus,
    minutes: int,
    purpose: str | None = None,
    source: ConsentSource = ConsentSource.KEYWORD,
) -> ConsentRecord:
    return ConsentRecord(
        phone=PHONE,
        status=status,
        scope=ConsentScope.MESSAGING_SERVICE,
        source=source,
        at=T0 + timedelta(minutes=minutes),
        purpose=purpose,
    )


def test_an_opt_out_of_one_purpose_leaves_the_others() -> None:
    history = [entry(IN, 0), entry(OUT, 5, "informational")]
    assert rules.current(history, "informational") is OUT
    assert rules.current(history, "marketing") is IN
    assert rules.current(history) is IN  # every purpose: only entries for every purpose
    assert rules.by_purpose(history) == {"informational": OUT}
    assert rules.is_suppressed(history)  # opted out of something: YES re-subscribes
    assert rules.last_opt_out(history) == T0 + timedelta(minutes=5)
    # the CRM field means marketing: an informational opt-out alone is not written there
    crm = rules.crm_view(history)
    assert crm is not None
    assert crm.status is IN


def test_an_opt_out_of_every_purpose_holds_for_each_and_a_later_start_lifts_all() -> None:
    history = [entry(OUT, 0, "marketing"), entry(OUT, 5)]
    for purpose in ("marketing", "informational", "transactional", "renewals", None):
        assert rules.current(history, purpose) is OUT
    lifted = [*history, entry(IN, 9)]  # START: every purpose again
    assert {p: rules.current(lifted, p) for p in ("marketing", "renewals")} == {
        "marketing": IN,
        "renewals": IN,
    }
    assert not rules.is_suppressed(lifted)


def test_an_opt_in_for_one_purpose_does_not_lift_an_opt_out_of_every_purpose() -> None:
    history = [entry(OUT, 0), entry(IN, 5, "transactional", source=ConsentSource.WEB_FORM)]
    assert rules.current(history, "transactional") is IN
    assert rules.current(history, "marketing") is OUT
    assert rules.current(history) is OUT


def test_crm_corrections_follow_the_marketing_view() -> None:
    states = [ContactState(ref=CrmRef("Lead", "00Q1"), phone=PHONE, consent=UNKNOWN)]
    only_reminders = [entry(OUT, 0, "informational")]
    assert rules.corrections(only_reminders, states) == ()
    marketing = [entry(OUT, 0, "marketing")]
    [(ref, fields)] = rules.corrections(marketing, states)
    assert ref == CrmRef("Lead", "00Q1")
    assert fields["consent_status"] == "opted_out"


def test_a_crm_opt_out_revokes_every_purpose_and_its_echo_adds_nothing() -> None:
    person = rules.decide_crm_consent(
        [], OUT, None, None, phone=PHONE, observed_at=T0, evidence_text="CRM field"
    )
    assert person.record is not None
    assert person.record.purpose is None
    # smsync wrote a marketing-only opt-out to the field; reading it back is no new event
    echo = rules.decide_crm_consent(
        [entry(OUT, 0, "marketing")], OUT, None, None, phone=PHONE, observed_at=T0
    )
    assert echo.record is None


@pytest.mark.parametrize(
    ("body", "provider", "attributed", "expected"),
    [
        ("please stop texting me", False, REMINDER, "informational"),
        ("No me envíes más mensajes", False, REMINDER, "informational"),
        ("STPO", False, REMINDER, "informational"),  # no carrier acts on a misspelling
        ("STOP", False, REMINDER, None),  # carriers treat STOP as global
        (" unsubscribe ", False, REMINDER, None),
        ("stop please", True, REMINDER, None),  # the provider's OptOutType said STOP
        ("please stop texting me", False, None, None),  # no play explains it
    ],
)
def test_what_an_opt_out_revokes_under_scope_purpose(
    body: str, provider: bool, attributed: tuple[str, str] | None, expected: str | None
) -> None:
    found = revoked(PURPOSE, body=body, provider_keyword=provider, attributed=attributed)
    assert found.purpose == expected
    assert found.describe().startswith(f"revokes {expected or 'every purpose'} (")


def test_scope_all_revokes_every_purpose_however_the_opt_out_came() -> None:
    for body in ("please stop texting me", "STPO", "ALTO", "STOP"):
        found = revoked(PurposePolicy(), body=body, provider_keyword=False, attributed=REMINDER)
        assert found.purpose is None
        assert "revocation_scope all" in found.why


def test_carrier_keywords_are_whole_replies_only() -> None:
    assert is_carrier_keyword("Stop")
    assert is_carrier_keyword("STOPALL\n")
    assert not is_carrier_keyword("stop please")
    assert not is_carrier_keyword("ALTO")


def test_from_keyword_records_the_purpose_of_an_opt_out_and_never_of_an_opt_in() -> None:
    stop = classify("please stop texting me", at=T0)
    assert stop is not None
    out = rules.from_keyword(stop, phone=PHONE, at=T0, purpose="informational")
    assert out is not None
    assert out.purpose == "informational"
    start = classify("START", at=T0, sender=Sender(opted_out=True))
    assert start is not None
    back = rules.from_keyword(start, phone=PHONE, at=T0, purpose="informational")
    assert back is not None
    assert (back.status, back.purpose) == (IN, None)


def test_the_chokepoint_checks_the_plays_purpose_and_names_it() -> None:
    promo = replace(make_play("promo"), purpose="marketing")
    reminder = replace(make_play("reminder"), purpose="informational")
    policy = policy_with(promo, reminder)
    ctx = replace(make_ctx(), purpose_consent={"marketing": OUT}, opted_out_at=NOON_NY)

    blocked = evaluate(play_send(promo, NOON_NY), ctx, policy, NOON_NY)
    assert blocked.verdict is Verdict.BLOCK
    [reason] = blocked.reasons
    assert (reason.code, reason.detail) == (
        "opted_out",
        "the number opted out of marketing, the play's purpose",
    )
    assert blocked.inputs is not None
    assert (blocked.inputs.purpose, blocked.inputs.consent) == ("marketing", OUT)

    allowed = evaluate(play_send(reminder, NOON_NY), ctx, policy, NOON_NY)
    assert allowed.verdict is Verdict.ALLOW
    assert allowed.inputs is not None
    assert (allowed.inputs.purpose, allowed.inputs.consent) == ("informational", IN)

    # the one confirmation follows an opt-out of one purpose too
    confirm = SendCandidate(SendKind.OPT_OUT_CONFIRMATION, body="You're unsubscribed.")
    assert evaluate(confirm, ctx, policy, NOON_NY).verdict is Verdict.ALLOW


def test_an_opt_out_of_every_purpose_blocks_each_play_naming_its_purpose() -> None:
    ctx = make_ctx(consent=OUT)
    for purpose in ("marketing", "informational", "transactional", "renewals"):
        play = replace(make_play(), purpose=purpose)
        result = evaluate(play_send(play, NOON_NY), ctx, policy_with(play), NOON_NY)
        [reason] = result.reasons
        assert reason.code == "opted_out"
        assert (
            reason.detail
            == f"the number opted out of every purpose (the play's purpose: {purpose})"
        )


def test_opt_in_required_regions_need_an_opt_in_for_the_plays_purpose() -> None:
    play = replace(make_play(), purpose="renewals")
    ctx = replace(make_ctx(consent=UNKNOWN), purpose_consent={"marketing": IN})
    result = evaluate(play_send(play, NOON_NY), ctx, policy_with(play), NOON_NY)
    [reason] = result.reasons
    assert reason.code == "consent_required"
    assert reason.detail == "default requires opt-in; consent for renewals is unknown"


def test_a_rep_sending_a_plays_template_needs_that_purpose_their_own_text_every_purpose() -> None:
    promo = replace(make_play("promo"), purpose="marketing")
    policy = policy_with(promo)
    ctx = replace(make_ctx(), purpose_consent={"marketing": OUT}, opted_out_at=NOON_NY)
    template = evaluate(SendCandidate(SendKind.MANUAL, promo), ctx, policy, NOON_NY)
    assert [str(r) for r in template.reasons] == [
        "opted_out: the number opted out of marketing, the play's purpose"
    ]
    own = SendCandidate(SendKind.MANUAL, body="About tomorrow's call: 3pm still ok?")
    assert evaluate(own, ctx, policy, NOON_NY).verdict is Verdict.ALLOW
    everything = replace(ctx, state=replace(ctx.state, consent=OUT))
    assert evaluate(own, everything, policy, NOON_NY).verdict is Verdict.BLOCK


def test_a_partly_opted_out_sender_answers_yes_but_start_resubscribes() -> None:
    partly = Sender(partly=True)
    assert classify("YES", sender=partly) is None  # "Reply YES to confirm" is answered
    assert classify("sí", sender=partly) is None
    start = classify("START", sender=partly)
    assert start is not None
    assert start.kind.value == "opt_in"
    provider = classify("start", opt_out_type="START", sender=partly)
    assert provider is not None
    assert provider.kind.value == "opt_in"
    assert classify("Yes", opt_out_type="START", sender=partly) is None  # Twilio's START
    yes = classify("YES", sender=Sender(opted_out=True))
    assert yes is not None
    assert yes.kind.value == "opt_in"
    assert classify("START", sender=Sender()) is None
