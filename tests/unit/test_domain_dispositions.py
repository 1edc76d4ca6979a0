"""Reply classification: compliance first, then the admin's rules in order, then
unclassified."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.dispositions import (
    DEFAULT_FALLBACK,
    OPTED_IN,
    Fallback,
    Rule,
    classify,
)
from connector.domain.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, KeywordKind, Sender
from connector.domain.model import HELP, OPTED_OUT, UNCLASSIFIED

RULES = (
    Rule(
        "reschedule_requested",
        keywords=("reschedule", "another time"),
        creates_task=True,
        sla="first_response",
    ),
    Rule(
        "pricing_question",
        keywords=("price", "pricing", "how much"),
        regexes=(r"\$\d+",),
        creates_task=True,
        sla="first_response",
    ),
    Rule("confirmed", keywords=("yes", "confirmed", "see you")),
    Rule("wrong_number", regexes=(r"wrong (number|person)",)),
)


@pytest.mark.parametrize(
    ("body", "name", "matched"),
    [
        ("Can we reschedule?", "reschedule_requested", "keyword 'reschedule'"),
        ("RESCHEDULE!!!", "reschedule_requested", "keyword 'reschedule'"),
        ("maybe another   time, sorry", "reschedule_requested", "keyword 'another time'"),
        ("What's the pricing?", "pricing_question", "keyword 'pricing'"),
        ("how much is it", "pricing_question", "keyword 'how much'"),
        ("is it under $500", "pricing_question", r"regex '\\$\\d+'"),
        ("Yes, confirmed. See you!", "confirmed", "keyword 'yes'"),
        ("You have the WRONG NUMBER", "wrong_number", "regex 'wrong (number|person)'"),
    ],
)
def test_rules_match_whole_words_case_and_punctuation_tolerant(
    body: str, name: str, matched: str
) -> None:
    result = classify(body, RULES)
    assert result.name == name
    assert result.matched == matched
    assert result.compliance is None
    rule = next(r for r in RULES if r.name == name)
    assert (result.creates_task, result.sla) == (rule.creates_task, rule.sla)
    assert result.disposition.rule == f"rules[{RULES.index(rule)}]:{name}"
    assert result.disposition.confidence == 1.0


@pytest.mark.parametrize("body", ["priceless advice", "yesterday works", "reschedulers", ""])
def test_keywords_never_match_inside_a_longer_word(body: str) -> None:
    result = classify(body, RULES)
    assert result.name == UNCLASSIFIED
    assert result.disposition.rule == "fallback"
    assert result.disposition.confidence == 0.0


def test_unclassified_follows_the_fallback() -> None:
    assert classify("hmm", RULES).creates_task is DEFAULT_FALLBACK.creates_task is True
    quiet = classify("hmm", RULES, fallback=Fallback(creates_task=False, sla="follow_up"))
    assert (quiet.name, quiet.creates_task, quiet.sla) == (UNCLASSIFIED, False, "follow_up")


@pytest.mark.parametrize(
    ("body", "name", "kind"),
    [
        ("Stop.", OPTED_OUT, KeywordKind.OPT_OUT),
        (" stop ", OPTED_OUT, KeywordKind.OPT_OUT),
        ("please stop texting me", OPTED_OUT, KeywordKind.OPT_OUT),
        ("HELP", HELP, KeywordKind.HELP),
        ("yes", OPTED_IN, KeywordKind.OPT_IN),  # from an opted-out number: before "confirmed"
        ("unstop", OPTED_IN, KeywordKind.OPT_IN),
    ],
)
def test_compliance_keywords_come_first(body: str, name: str, kind: KeywordKind) -> None:
    shadowing = (Rule("not_now", keywords=("stop", "help", "yes", "unstop", "texting me")),)
    result = classify(body, shadowing + RULES, sid="SM1", sender=Sender(opted_out=True))
    assert result.name == name
    assert result.compliance is not None
    assert result.compliance.kind is kind
    assert result.compliance.evidence_sid == "SM1"
    assert not result.creates_task
    assert result.sla is None
    assert result.disposition.rule.startswith("compliance:")


@pytest.mark.parametrize("body", ["YES", "Yes!", "yes please", "START", "unstop"])
def test_yes_from_a_number_that_never_opted_out_goes_to_the_rules(body: str) -> None:
    rules = (Rule("confirmed", regexes=(r"^\s*(yes|start|unstop)\b",)), *RULES)
    result = classify(body, rules, sid="SM1", opt_out_type="START" if body == "YES" else None)
    assert result.compliance is None
    assert result.name == "confirmed"
    opted_out = classify(body, rules, sid="SM1", sender=Sender(opted_out=True))
    assert opted_out.name == OPTED_IN


def test_an_unsure_opt_out_asks_for_a_review_and_is_least_certain() -> None:
    result = classify("I told you guys to stop like three times now", RULES)
    assert result.name == OPTED_OUT
    assert result.review
    assert not result.creates_task  # the review task is the engine's, not a follow-up
    assert result.disposition.confidence < classify("lose my number", RULES).disposition.confidence
    assert not classify("STOP", RULES).review


def test_the_providers_opt_out_type_wins_over_the_text() -> None:
    result = classify("how much?", RULES, opt_out_type="STOP")
    assert result.name == OPTED_OUT
    assert result.disposition.rule == "compliance:provider_opt_out_type"


def test_a_natural_language_opt_out_is_less_certain_than_a_keyword() -> None:
    assert classify("lose my number", RULES).disposition.confidence < 1.0
    assert classify("STOP", RULES).disposition.confidence == 1.0


def test_a_keyword_of_punctuation_alone_matches_nothing() -> None:
    rules = (Rule("odd", keywords=("!!!", "ok")),)
    assert classify("!!!", rules).name == UNCLASSIFIED
    assert classify("ok!!!", rules).matched == "keyword 'ok'"


def test_a_bad_regex_fails_when_the_rule_is_built() -> None:
    with pytest.raises(re.error, match=r"unterminated|missing"):
        Rule("broken", regexes=("(",))


# --- properties -----------------------------------------------------------------------

WORDS = ["pricing", "call", "later", "meeting", "tomorrow", "sure", "busy", "who", "this"]
words = st.sampled_from(WORDS)
rule_strategy = st.builds(
    Rule,
    name=st.sampled_from(["interested", "not_now", "pricing_question", "confirmed"]),
    keywords=st.lists(words, min_size=1, max_size=3).map(tuple),
    creates_task=st.booleans(),
)
bodies = st.lists(
    st.one_of(words, st.sampled_from(["?", "!", ",", "Hi", "THE", "..."])), max_size=8
).map(" ".join)
compliance_bodies = st.tuples(
    st.sampled_from(sorted(DEFAULT_OPT_OUT | DEFAULT_OPT_IN | {"HELP", "INFO"})),
    st.sampled_from(["", ".", "!", " "]),
    st.booleans(),
).map(lambda t: f" {t[0].lower() if t[2] else t[0]}{t[1]}")


@settings(max_examples=300, deadline=None)
@given(compliance_bodies, st.lists(rule_strategy, max_size=5))
def test_compliance_always_wins_over_rules(body: str, rules: list[Rule]) -> None:
    shadow = Rule("not_now", keywords=(body.strip(" .!"),))
    result = classify(body, [shadow, *rules], sender=Sender(opted_out=True))
    assert result.compliance is not None
    assert result.name in {OPTED_OUT, OPTED_IN, HELP}
    assert not result.creates_task


@settings(max_examples=300, deadline=None)
@given(bodies, st.lists(rule_strategy, max_size=6))
def test_rule_order_is_priority(body: str, rules: list[Rule]) -> None:
    result = classify(body, rules)
    alone = [classify(body, [rule]).name != UNCLASSIFIED for rule in rules]
    if any(alone):
        first = alone.index(True)
        assert result.disposition.rule == f"rules[{first}]:{rules[first].name}"
        assert result.creates_task is rules[first].creates_task
    else:
        assert result.name == UNCLASSIFIED
    # Moving the winning rule to the end hands the win to the next rule that matches.
    if any(alone) and len(rules) > 1:
        first = alone.index(True)
        reordered = [*rules[:first], *rules[first + 1 :], rules[first]]
        again = classify(body, reordered)
        following = alone[first + 1 :].index(True) + first if True in alone[first + 1 :] else None
        expected = (
            f"rules[{following}]:{reordered[following].name}"
            if following is not None
            else f"rules[{len(rules) - 1}]:{rules[first].name}"
        )
        assert again.disposition.rule == expected
