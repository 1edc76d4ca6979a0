"""Compliance keywords: Twilio's defaults with case, space and punctuation tolerance,
OptOutType first, and configurable natural-language opt-outs with their evidence."""

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
    classify,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = "SM" + "a" * 32


@pytest.mark.parametrize(
    "body", ["Stop.", " stop ", "STOP", "UNSUBSCRIBE", "stop!!", "¡Stop!", "Quit\n"]
)
def test_stop_variants_are_opt_outs_by_the_default_keyword(body: str) -> None:
    found = classify(body, sid=SID, at=AT)
    assert found is not None
    assert found.kind is KeywordKind.OPT_OUT
    assert found.rule is KeywordRule.KEYWORD
    assert (found.evidence_sid, found.evidence_text, found.at) == (SID, body, AT)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("start", KeywordKind.OPT_IN),
        ("Yes!", KeywordKind.OPT_IN),
        ("unstop", KeywordKind.OPT_IN),
        ("help?", KeywordKind.HELP),
        (" INFO ", KeywordKind.HELP),
    ],
)
def test_opt_in_and_help_keywords(body: str, kind: KeywordKind) -> None:
    found = classify(body)
    assert found is not None
    assert found.kind is kind


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "Remove me from this list.",
        "PLEASE don't text me again",
        "Can you take me off your list",
        "opt me out",
    ],
)
def test_natural_language_opt_outs(body: str) -> None:
    found = classify(body, sid=SID, at=AT)
    assert found is not None
    assert found.kind is KeywordKind.OPT_OUT
    assert found.rule is KeywordRule.NATURAL
    assert found.evidence_text == body


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Yes I will stop by tomorrow",
        "stop by at 5?",
        "Help me pick a time",
        "the end",
        "removed meeting",
        "Stopwatch",
        "info please",
    ],
)
def test_ordinary_replies_are_not_keywords(body: str) -> None:
    assert classify(body) is None


def test_opt_out_type_wins_over_the_body() -> None:
    found = classify("whatever", opt_out_type="STOP", sid=SID)
    assert found is not None
    assert (found.kind, found.rule, found.matched) == (
        KeywordKind.OPT_OUT,
        KeywordRule.PROVIDER,
        "STOP",
    )
    start = classify("stop", opt_out_type="start")
    assert start is not None
    assert start.kind is KeywordKind.OPT_IN


def test_natural_phrases_are_configurable() -> None:
    rules = KeywordRules(natural_opt_outs=("wrong number, stop",))
    found = classify("Wrong number - stop", rules=rules)
    assert found is not None
    assert found.matched == "wrong number stop"
    assert classify("please stop texting me", rules=rules) is None


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
    found = classify(left + cased + right)
    assert found is not None
    assert found.matched == word
    expected = (
        KeywordKind.OPT_OUT
        if word in DEFAULT_OPT_OUT
        else KeywordKind.OPT_IN
        if word in DEFAULT_OPT_IN
        else KeywordKind.HELP
    )
    assert found.kind is expected
