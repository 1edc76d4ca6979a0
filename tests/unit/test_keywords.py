"""The revocation classifier, category by category: keywords anywhere in a short reply,
phrases with negation, misspellings, Spanish, help, opt-in in context, the ordinary uses of
the same words, the unsure cue, and the admin's extra vocabulary. Every verdict carries its
rule and evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain.keywords import (
    DEFAULT_HELP,
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    KeywordKind,
    KeywordRule,
    KeywordRules,
    Sender,
    Vocabulary,
    classify,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = "SM" + "a" * 32
OPTED_OUT = Sender(opted_out=True)
ANYONE = Sender()


def _kind(body: str, sender: Sender = ANYONE) -> KeywordKind | None:
    found = classify(body, sender=sender)
    return found.kind if found is not None else None


@pytest.mark.parametrize(
    "body",
    [
        "Stop.",
        " stop ",
        "STOP please",
        "pls stop",
        "I said stop",
        "STOP STOP STOP",
        "Stop 😡",
        "UNSUBSCRIBE",
        "¡Stop!",
        "Quit\n",
        "opt-out",
        "stop wrong number",
    ],
)
def test_a_keyword_in_a_short_reply_is_an_opt_out_with_its_evidence(body: str) -> None:
    found = classify(body, sid=SID, at=AT)
    assert found is not None
    assert found.kind is KeywordKind.OPT_OUT
    assert found.rule in (KeywordRule.KEYWORD, KeywordRule.SHORT)
    assert not found.unsure
    assert (found.evidence_sid, found.evidence_text, found.at) == (SID, body, AT)
    assert found.language == "en"


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ("please stop texting me", "stop texting"),
        ("never text me again", "never text me"),
        ("Lose my number", "lose my number"),
        ("take me off your list", "take me off your list"),
        ("remove my number", "remove my number"),
        ("quit texting me", "quit texting"),
        ("I don't want these texts", "dont want these texts"),
        ("i would like to opt out", "opt out"),
        ("PLEASE don't text me again", "dont text me"),
    ],
)
def test_phrases_of_revocation(body: str, phrase: str) -> None:
    found = classify(body)
    assert found is not None
    assert (found.kind, found.rule) == (KeywordKind.OPT_OUT, KeywordRule.PHRASE)
    assert found.matched.startswith(phrase)
    assert phrase in found.describe()


@pytest.mark.parametrize(
    "body",
    [
        "Please don't stop sending me updates",
        "No, don't remove me, I still want the updates",
        "Don't remove my number, I need these reminders",
        "I don't want to cancel, just move it to 4",
    ],
)
def test_negation_undoes_a_phrase(body: str) -> None:
    assert classify(body) is None


@pytest.mark.parametrize("body", ["STPO", "Sotp", "UNSUBCRIBE", "UNSUSCRIBE", "Cancle", "stpo pls"])
def test_a_keyword_one_edit_away_is_a_misspelling(body: str) -> None:
    found = classify(body)
    assert found is not None
    assert (found.kind, found.rule) == (KeywordKind.OPT_OUT, KeywordRule.MISSPELLED)


@pytest.mark.parametrize("body", ["Step", "Shop", "quite", "also", "stops", "into"])
def test_a_real_word_near_a_keyword_is_not_a_misspelling(body: str) -> None:
    assert classify(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "ALTO",
        "parar por favor",
        "CANCELAR",
        "Basta ya",
        "DETENER",
        "No me envíes más mensajes",
        "no me mandes mas",
        "Quiero darme de baja",
    ],
)
def test_spanish_opt_outs(body: str) -> None:
    found = classify(body)
    assert found is not None
    assert found.kind is KeywordKind.OPT_OUT
    assert found.language == "es"


@pytest.mark.parametrize(
    "body",
    [
        "Can we stop by Thursday?",
        "don't stop",
        "Meet me at the bus stop",
        "Remove me from the cc on the email and add my colleague",
        "Cancel my 3pm, something came up",
        "Could you stop the auto-renewal on my account?",
        "Is there an opt out for the annual contract?",
        "Sorry, I'm driving, will text when I stop",
        "Help me understand the pricing",
        "End of day works for me",
        "Un precio muy alto",
    ],
)
def test_ordinary_replies_with_the_trigger_words(body: str) -> None:
    assert classify(body) is None


def test_a_cue_in_a_longer_reply_is_an_unsure_opt_out() -> None:
    found = classify("I told you guys to stop like three times now")
    assert found is not None
    assert (found.kind, found.rule, found.unsure) == (
        KeywordKind.OPT_OUT,
        KeywordRule.UNSURE,
        True,
    )
    assert "stop" in found.matched
    assert "review" in found.describe()


@pytest.mark.parametrize("body", ["cancel it", "Cancel that", "end this"])
def test_a_weak_keyword_with_an_object_is_an_unsure_opt_out(body: str) -> None:
    found = classify(body)  # the meeting, or the texts? honoured, and a person checks
    assert found is not None
    assert (found.kind, found.unsure) == (KeywordKind.OPT_OUT, True)
    strong = classify("stop it")
    assert strong is not None
    assert (strong.kind, strong.unsure) == (KeywordKind.OPT_OUT, False)


@pytest.mark.parametrize("body", ["HELP", "help?", " INFO ", "Help pls", "AYUDA", "hlep"])
def test_help_requests(body: str) -> None:
    assert _kind(body) is KeywordKind.HELP


@pytest.mark.parametrize("body", ["YES", "Yes!", "start", "UNSTOP", "sí"])
def test_opt_in_only_from_an_opted_out_number(body: str) -> None:
    assert _kind(body) is None
    assert _kind(body, OPTED_OUT) is KeywordKind.OPT_IN


def test_the_providers_verdict_wins_and_start_needs_an_opt_out() -> None:
    found = classify("whatever", opt_out_type="STOP", sid=SID)
    assert found is not None
    assert (found.kind, found.rule, found.matched) == (
        KeywordKind.OPT_OUT,
        KeywordRule.PROVIDER,
        "STOP",
    )
    assert classify("YES", opt_out_type="START") is None
    start = classify("YES", opt_out_type="start", sender=OPTED_OUT)
    assert start is not None
    assert start.kind is KeywordKind.OPT_IN


def test_an_opt_out_beats_help_and_opt_in_in_one_reply() -> None:
    assert _kind("help stop", OPTED_OUT) is KeywordKind.OPT_OUT
    assert _kind("yes stop", OPTED_OUT) is KeywordKind.OPT_OUT


def test_the_admin_extends_a_language_and_adds_one() -> None:
    rules = KeywordRules.extended(
        [
            Vocabulary("fr", opt_out=frozenset({"desinscription"}), help=frozenset({"aidez"})),
            Vocabulary("es", phrases=("ya no quiero saber nada",)),
            Vocabulary("de", opt_out=frozenset({"abmelden"}), phrases=("keine sms mehr",)),
        ]
    )
    assert set(rules.languages) == {"en", "es", "fr", "de"}
    for body, kind, language in [
        ("ABMELDEN", KeywordKind.OPT_OUT, "de"),
        ("Bitte keine SMS mehr", KeywordKind.OPT_OUT, "de"),
        ("Ya no quiero saber nada de ustedes", KeywordKind.OPT_OUT, "es"),
        ("aidez", KeywordKind.HELP, "fr"),
        ("ALTO", KeywordKind.OPT_OUT, "es"),  # the built-in words stay
    ]:
        found = classify(body, rules=rules)
        assert found is not None, body
        assert (found.kind, found.language) == (kind, language)
    configured = classify("Bitte keine SMS mehr", rules=rules)
    assert configured is not None
    assert configured.rule is KeywordRule.CONFIGURED
    assert classify("Bitte keine SMS mehr") is None  # not without the admin's words


_PAD = st.text(alphabet=" \t\n.!?,;:-", max_size=4)


@given(
    word=st.sampled_from(sorted(DEFAULT_OPT_OUT | DEFAULT_OPT_IN | DEFAULT_HELP)),
    left=_PAD,
    right=_PAD,
    case=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_every_default_keyword_matches_in_any_case_and_padding(
    word: str, left: str, right: str, case: list[bool]
) -> None:
    cased = "".join(c.lower() if flip else c for c, flip in zip(word, case, strict=False))
    found = classify(left + cased + right, sender=OPTED_OUT)
    assert found is not None
    assert found.matched == word.lower()
    expected = (
        KeywordKind.OPT_OUT
        if word in DEFAULT_OPT_OUT
        else KeywordKind.OPT_IN
        if word in DEFAULT_OPT_IN
        else KeywordKind.HELP
    )
    assert found.kind is expected


@given(st.text(max_size=300))
def test_any_text_gets_a_verdict_or_none_and_opt_in_needs_an_opt_out(body: str) -> None:
    found = classify(body)
    assert found is None or found.kind is not KeywordKind.OPT_IN
    if found is not None:
        assert found.evidence_text == body
        # only an opt-out is ever unsure, and the cue rule always is
        assert not found.unsure or found.kind is KeywordKind.OPT_OUT
        assert found.unsure or found.rule is not KeywordRule.UNSURE
