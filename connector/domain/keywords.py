"""Compliance keywords in an inbound text: opt-out, opt-in and help.

Checked before any other classification, because an opt-out is absolute (RELIABILITY
promise 3). Three sources, strongest first:

1. the provider's own verdict (Twilio's `OptOutType`), since the provider already acted;
2. a default single-word keyword ("Stop.", " stop ", "UNSUBSCRIBE"), tolerant of case,
   surrounding spaces and punctuation, never inside a longer text (as carriers match);
3. a configurable natural-language opt-out ("please stop texting me", "remove me"),
   which CTIA asks senders to honour although no carrier acts on it.

Pure: every match carries its evidence (message sid, raw text, time) for the consent
ledger."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum, unique


@unique
class KeywordKind(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@unique
class KeywordRule(StrEnum):
    """Which rule matched, for the decision log and the consent evidence."""

    PROVIDER = "provider_opt_out_type"
    KEYWORD = "default_keyword"
    NATURAL = "natural_language"


DEFAULT_OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
DEFAULT_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
DEFAULT_HELP = frozenset({"HELP", "INFO"})
DEFAULT_NATURAL_OPT_OUTS: tuple[str, ...] = (
    "stop texting me",
    "stop messaging me",
    "stop sending me",
    "stop contacting me",
    "stop texting",
    "remove me",
    "take me off",
    "unsubscribe me",
    "opt me out",
    "do not text me",
    "dont text me",
    "do not contact me",
    "dont contact me",
    "no more texts",
    "no more messages",
    "leave me alone",
)

_PROVIDER_TYPES = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_WORD = re.compile(r"[^\w]+")


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped ("don't" -> "dont"), other punctuation as spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split())


def single_word(body: str) -> str | None:
    """The one word of a reply such as "Stop." or " stop ", upper-cased; None for more."""
    words = normalize(body).split()
    if len(words) != 1:
        return None
    return words[0].upper()


@dataclass(frozen=True, slots=True)
class KeywordRules:
    """The keyword sets in force; the natural-language phrases are the admin's to extend."""

    opt_out: frozenset[str] = DEFAULT_OPT_OUT
    opt_in: frozenset[str] = DEFAULT_OPT_IN
    help: frozenset[str] = DEFAULT_HELP
    natural_opt_outs: tuple[str, ...] = DEFAULT_NATURAL_OPT_OUTS
    _phrases: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phrases = tuple(tuple(normalize(p).split()) for p in self.natural_opt_outs)
        object.__setattr__(self, "_phrases", tuple(p for p in phrases if p))

    def word(self, word: str) -> KeywordKind | None:
        if word in self.opt_out:
            return KeywordKind.OPT_OUT
        if word in self.opt_in:
            return KeywordKind.OPT_IN
        if word in self.help:
            return KeywordKind.HELP
        return None

    def phrase_in(self, words: tuple[str, ...]) -> str | None:
        """The first configured phrase found as whole consecutive words, else None."""
        for phrase in self._phrases:
            n = len(phrase)
            for i in range(len(words) - n + 1):
                if words[i : i + n] == phrase:
                    return " ".join(phrase)
        return None


DEFAULT_RULES = KeywordRules()


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A compliance keyword found in one message, with the evidence to record."""

    kind: KeywordKind
    rule: KeywordRule
    matched: str  # the keyword, OptOutType value or phrase that matched
    evidence_text: str  # the raw body, unaltered
    evidence_sid: str | None = None
    at: datetime | None = None


def classify(
    body: str,
    *,
    opt_out_type: str | None = None,
    sid: str | None = None,
    at: datetime | None = None,
    rules: KeywordRules = DEFAULT_RULES,
) -> KeywordMatch | None:
    """The compliance keyword in `body`, or None when it is an ordinary reply."""

    def match(kind: KeywordKind, rule: KeywordRule, matched: str) -> KeywordMatch:
        return KeywordMatch(kind, rule, matched, evidence_text=body, evidence_sid=sid, at=at)

    provider = (opt_out_type or "").strip().upper()
    if provider in _PROVIDER_TYPES:
        return match(_PROVIDER_TYPES[provider], KeywordRule.PROVIDER, provider)
    word = single_word(body)
    if word is not None:
        kind = rules.word(word)
        if kind is not None:
            return match(kind, KeywordRule.KEYWORD, word)
    phrase = rules.phrase_in(tuple(normalize(body).split()))
    if phrase is not None:
        return match(KeywordKind.OPT_OUT, KeywordRule.NATURAL, phrase)
    return None
