"""Compliance keywords in an inbound text: opt-out, opt-in and help, with the rule that
decided and the evidence, for the consent ledger and `smsync explain`.

Checked before any other classification, because an opt-out is absolute. In order:

1. the provider's own verdict (Twilio's `OptOutType`): it already acted on it;
2. the whole reply is keywords, politeness and filler ("STOP please", "I said stop",
   "STOP STOP STOP", "ayuda por favor"), keywords possibly misspelled by one edit
   (STPO, UNSUBCRIBE, on words of four letters or more);
3. a phrase of revocation ("never text me again", "lose my number", "no me envíes más
   mensajes"), or one the admin configured, not negated ("don't stop texting me");
4. a strong keyword alone in a clause ("I never signed up for this, stop") or anywhere in
   a reply of at most five words ("stop wrong number"), unless the words around make it
   ordinary ("bus stop", "stop by Thursday?", "don't stop", "stop the auto-renewal");
5. a help phrase ("what are these texts?");
6. unsure: a strong keyword (stop, unsubscribe, opt out, revoke) in a longer reply that
   none of the above explains and nothing negates. It is read as an opt-out and a person
   reviews it: missing a revocation costs more than a review.

Opt-in is read in context: START, UNSTOP or YES re-subscribe only a sender whose number is
opted out (`Sender.opted_out`); from anyone else "YES" is an ordinary reply that the
disposition rules read (a meeting confirmation's `confirmed`). Languages: English, Spanish
and French are built in; `KeywordRules.extended` adds the admin's words per language.
Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, unique

from connector.domain import revocation as rv
from connector.domain.keyword_vocabulary import (
    BUILTIN_VOCABULARIES,
    DEFAULT_HELP,
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    DEFAULT_RULES,
    KIND_ORDER,
    Hit,
    KeywordKind,
    KeywordRules,
    Vocabulary,
)

__all__ = [
    "BUILTIN_VOCABULARIES",
    "DEFAULT_HELP",
    "DEFAULT_OPT_IN",
    "DEFAULT_OPT_OUT",
    "DEFAULT_RULES",
    "KeywordKind",
    "KeywordMatch",
    "KeywordRule",
    "KeywordRules",
    "Sender",
    "Vocabulary",
    "classify",
    "read",
]


@unique
class KeywordRule(StrEnum):
    """Which rule matched, for the decision log and the consent evidence."""

    PROVIDER = "provider_opt_out_type"
    KEYWORD = "keyword"  # the whole reply is keywords and filler
    MISSPELLED = "keyword_misspelled"  # the same, a keyword one edit away
    CLAUSE = "keyword_clause"  # a clause of its own: "..., stop."
    SHORT = "keyword_in_short_reply"  # a strong keyword in at most five words
    PHRASE = "revocation_phrase"  # a built-in phrase: "lose my number"
    CONFIGURED = "configured_phrase"  # a phrase from the plays file
    HELP_PHRASE = "help_phrase"
    UNSURE = "revocation_cue"  # a strong keyword in a longer reply: review


SHORT_REPLY_WORDS = 5
_PROVIDER_TYPES = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}


# Opt-in words that are also the ordinary answer to a question ("Reply YES to confirm").
AFFIRMATIVE = frozenset({"yes", "si"})


@dataclass(frozen=True, slots=True)
class Sender:
    """What is known about who wrote: whether their number is opted out now (of every
    purpose), or `partly`: of some purposes alone (revocation_scope: purpose). A partly
    opted-out sender still gets texts of the other purposes, so a YES answers one of
    them; START and UNSTOP still re-subscribe."""

    opted_out: bool = False
    partly: bool = False

    def opts_in(self, word: str) -> bool:
        """Whether an opt-in keyword (`word`, folded) re-subscribes this sender."""
        return self.opted_out or (self.partly and word not in AFFIRMATIVE)


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A compliance keyword found in one message, with the evidence to record.

    `unsure` marks an opt-out read from a cue rather than a clear request: it is honoured
    and a person reviews it."""

    kind: KeywordKind
    rule: KeywordRule
    matched: str  # the keyword, OptOutType value or phrase that matched
    evidence_text: str  # the raw body, unaltered
    evidence_sid: str | None = None
    at: datetime | None = None
    language: str | None = None
    unsure: bool = False

    def describe(self) -> str:
        """One line for the decision log: rule, what matched, language."""
        where = f" ({self.language})" if self.language else ""
        review = "; unsure, a person reviews it" if self.unsure else ""
        return f"{self.kind.value} by {self.rule.value}: {self.matched!r}{where}{review}"


@dataclass(frozen=True, slots=True)
class _Reading:
    kind: KeywordKind
    rule: KeywordRule
    matched: str
    language: str | None = None
    unsure: bool = False


# "cancel it", "end that": a weak keyword with an object may be about a meeting
_OBJECTS = frozenset(("it", "that", "this"))


def _whole(hits: list[Hit], tokens: Sequence[str], rules: KeywordRules) -> _Reading:
    kinds = {h.kind for h in hits}
    kind = next(k for k in KIND_ORDER if k in kinds)
    chosen = [h for h in hits if h.kind is kind]
    misspelled = any(h.misspelled for h in chosen)
    rule = KeywordRule.MISSPELLED if misspelled else KeywordRule.KEYWORD
    matched = " ".join(dict.fromkeys(h.word for h in chosen))
    unsure = (
        kind is KeywordKind.OPT_OUT
        and not any(rules.is_strong(h.word) for h in chosen)
        and any(t in _OBJECTS for t in tokens)
    )
    return _Reading(kind, rule, matched, chosen[0].language, unsure)


def _cues(
    parts: Sequence[tuple[str, ...]], rules: KeywordRules
) -> list[tuple[tuple[str, ...], int, Hit]]:
    """Strong keywords that are neither negated nor ordinary where they stand."""
    found = []
    for clause in parts:
        for i in range(len(clause)):
            hit = rules.strong_at(clause, i)
            if hit is None or rv.negated(clause, i):
                continue
            end = i + (1 if hit.misspelled else len(hit.word.split()))
            if rv.ordinary_stop(clause, i, end) is None:
                found.append((clause, i, hit))
    return found


@dataclass(frozen=True, slots=True)
class _Text:
    """One reply, read once: its clauses, words and strong cues."""

    parts: tuple[tuple[str, ...], ...]
    tokens: tuple[str, ...]
    cues: list[tuple[tuple[str, ...], int, Hit]]


def _by_keywords(text: _Text, rules: KeywordRules) -> _Reading | None:
    hits = rules.segment(text.tokens)
    return _whole(hits, text.tokens, rules) if hits is not None else None


def _by_phrase(text: _Text, rules: KeywordRules) -> _Reading | None:
    found = rv.find_phrase(text.parts, rv.PHRASES)
    if found is not None:
        phrase, matched = found
        return _Reading(
            KeywordKind.OPT_OUT, KeywordRule.PHRASE, matched, phrase.language, phrase.unsure
        )
    configured = rv.find_words(text.parts, (p for p, _ in rules.phrases))
    if configured is None:
        return None
    language = dict(rules.phrases).get(configured)
    return _Reading(KeywordKind.OPT_OUT, KeywordRule.CONFIGURED, " ".join(configured), language)


def _by_clause(text: _Text, rules: KeywordRules) -> _Reading | None:
    for clause in text.parts:
        hits = rules.segment(clause)
        if hits and all(h.kind is KeywordKind.OPT_OUT for h in hits):
            strong = [h for h in hits if rules.is_strong(h.word)]
            if strong:
                hit = strong[0]
                return _Reading(KeywordKind.OPT_OUT, KeywordRule.CLAUSE, hit.word, hit.language)
    return None


def _by_short_reply(text: _Text, _rules: KeywordRules) -> _Reading | None:
    if not text.cues or len(text.tokens) > SHORT_REPLY_WORDS:
        return None
    hit = text.cues[0][2]
    return _Reading(KeywordKind.OPT_OUT, KeywordRule.SHORT, hit.word, hit.language)


def _by_help_phrase(text: _Text, _rules: KeywordRules) -> _Reading | None:
    found = rv.find_phrase(text.parts, rv.HELP_PHRASES)
    if found is None:
        return None
    return _Reading(KeywordKind.HELP, KeywordRule.HELP_PHRASE, found[1], found[0].language)


def _by_cue(text: _Text, _rules: KeywordRules) -> _Reading | None:
    if not text.cues:
        return None
    clause, i, hit = text.cues[0]
    context = " ".join(clause[max(0, i - 2) : i + 3])
    return _Reading(KeywordKind.OPT_OUT, KeywordRule.UNSURE, context, hit.language, unsure=True)


_STEPS = (_by_keywords, _by_phrase, _by_clause, _by_short_reply, _by_help_phrase, _by_cue)


def read(body: str, rules: KeywordRules = DEFAULT_RULES) -> _Reading | None:
    """What the text itself says, without the provider's verdict or the sender: the
    first of the module's steps (2 to 6) that finds something."""
    parts = rv.clauses(body)
    tokens = tuple(w for clause in parts for w in clause)
    if not tokens:
        return None
    text = _Text(parts, tokens, _cues(parts, rules))
    for step in _STEPS:
        found = step(text, rules)
        if found is not None:
            return found
    return None


def classify(
    body: str,
    *,
    opt_out_type: str | None = None,
    sid: str | None = None,
    at: datetime | None = None,
    rules: KeywordRules = DEFAULT_RULES,
    sender: Sender = Sender(),
) -> KeywordMatch | None:
    """The compliance keyword in `body`, or None when it is an ordinary reply.

    The provider's STOP and HELP win over the text (it already acted). An opt-in, the
    provider's START included, counts only from a sender who is opted out."""
    provider = (opt_out_type or "").strip().upper()
    reading: _Reading | None
    if provider in ("STOP", "HELP"):
        reading = _Reading(_PROVIDER_TYPES[provider], KeywordRule.PROVIDER, provider)
    elif provider == "START":
        reading = _Reading(KeywordKind.OPT_IN, KeywordRule.PROVIDER, provider)
    else:
        reading = read(body, rules)
    # the provider reads YES as START too: the reply's own word decides
    word = rv.fold(body) if reading and reading.rule is KeywordRule.PROVIDER else None
    if reading is None or (
        reading.kind is KeywordKind.OPT_IN and not sender.opts_in(word or rv.fold(reading.matched))
    ):
        return None
    return KeywordMatch(
        kind=reading.kind,
        rule=reading.rule,
        matched=reading.matched,
        evidence_text=body,
        evidence_sid=sid,
        at=at,
        language=reading.language,
        unsure=reading.unsure,
    )
