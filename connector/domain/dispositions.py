"""Classify an inbound text into a disposition.

Order is the whole policy: compliance keywords first (an opt-out is absolute, so no
admin rule may shadow it), then the admin's rules in list order (the first match wins,
so order is priority), then `unclassified`. Rules arrive as plain dataclasses so this
module does not depend on the mapping's pydantic models; the engine converts them.

The sender's consent takes part: "YES" from an opted-out number is an opt-in, from anyone
else an ordinary reply for the rules (a meeting confirmation's `confirmed`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.domain.keywords import (
    DEFAULT_RULES,
    KeywordKind,
    KeywordMatch,
    KeywordRule,
    KeywordRules,
    Sender,
)
from connector.domain.keywords import classify as classify_compliance
from connector.domain.model import HELP, OPTED_OUT, UNCLASSIFIED, Disposition
from connector.domain.revocation import fold

# Not in the mapping's default vocabulary: an opt-in is recorded in the consent fields,
# and the engine decides whether the disposition field shows it.
OPTED_IN = "opted_in"

_COMPLIANCE_NAMES = {
    KeywordKind.OPT_OUT: OPTED_OUT,
    KeywordKind.HELP: HELP,
    KeywordKind.OPT_IN: OPTED_IN,
}
# A carrier or keyword match is what the person typed; a phrase is our reading of it; an
# unsure cue is honoured but a person checks it.
_COMPLIANCE_CONFIDENCE = {
    KeywordRule.PROVIDER: 1.0,
    KeywordRule.KEYWORD: 1.0,
    KeywordRule.CLAUSE: 0.95,
    KeywordRule.MISSPELLED: 0.9,
    KeywordRule.SHORT: 0.9,
    KeywordRule.PHRASE: 0.9,
    KeywordRule.CONFIGURED: 0.9,
    KeywordRule.HELP_PHRASE: 0.8,
    KeywordRule.UNSURE: 0.5,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One admin rule: a disposition name and what matches it.

    Keywords match whole words, case-insensitively, ignoring punctuation ("Pricing?"
    matches "pricing"; "price" does not match "priceless"); a keyword of several words
    matches them consecutively. Regexes are searched in the raw text, case-insensitively,
    because replies are typed in any case; write ``(?-i:...)`` to opt out."""

    name: str
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    creates_task: bool = False
    sla: str | None = None
    _words: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = ((k, tuple(fold(k).split())) for k in self.keywords)
        # A keyword of punctuation alone normalises to nothing and matches nothing.
        object.__setattr__(self, "_words", tuple((k, w) for k, w in words if w))
        object.__setattr__(
            self, "_patterns", tuple(re.compile(r, re.IGNORECASE) for r in self.regexes)
        )

    def match(self, body: str, words: tuple[str, ...]) -> str | None:
        """What matched (the keyword or regex as written), or None.

        `words` is ``fold(body).split()``, computed once per message."""
        for keyword, phrase in self._words:
            if _contains(words, phrase):
                return f"keyword {keyword!r}"
        for pattern in self._patterns:
            if pattern.search(body):
                return f"regex {pattern.pattern!r}"
        return None


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


@dataclass(frozen=True, slots=True)
class Classification:
    """The disposition of one inbound text and what it asks of the engine.

    `compliance` carries the keyword match (with its evidence) for the consent ledger;
    `matched` says what in the text decided it, for the decision log; `review` asks for a
    person to check an opt-out read from a cue (see `keywords`)."""

    disposition: Disposition
    creates_task: bool
    sla: str | None
    matched: str
    compliance: KeywordMatch | None = None

    @property
    def review(self) -> bool:
        return self.compliance is not None and self.compliance.unsure

    @property
    def name(self) -> str:
        return self.disposition.name


@dataclass(frozen=True, slots=True)
class Fallback:
    """What an unclassified reply asks for. By default a human reads it: a text no rule
    understood is exactly the one an automaton should not answer."""

    creates_task: bool = True
    sla: str | None = None


DEFAULT_FALLBACK = Fallback()


def classify(
    body: str,
    rules: Sequence[Rule],
    *,
    opt_out_type: str | None = None,
    sid: str | None = None,
    at: datetime | None = None,
    keyword_rules: KeywordRules = DEFAULT_RULES,
    fallback: Fallback = DEFAULT_FALLBACK,
    sender: Sender = Sender(),  # noqa: B008 - frozen, shared safely
) -> Classification:
    """Classify `body`: compliance keywords, then `rules` in order, then unclassified.

    `opt_out_type` is the provider's own verdict (Twilio's OptOutType), which wins over
    the text because the provider already acted on it; an opt-in counts only from a
    `sender` who is opted out. Compliance results never create a follow-up task: the
    opt-out, opt-in and help replies are automatic (an unsure opt-out asks for a review)."""
    found = classify_compliance(
        body, opt_out_type=opt_out_type, sid=sid, at=at, rules=keyword_rules, sender=sender
    )
    if found is not None:
        return Classification(
            disposition=Disposition(
                name=_COMPLIANCE_NAMES[found.kind],
                rule=f"compliance:{found.rule.value}",
                confidence=_COMPLIANCE_CONFIDENCE[found.rule],
            ),
            creates_task=False,
            sla=None,
            matched=found.describe(),
            compliance=found,
        )
    words = tuple(fold(body).split())
    for index, rule in enumerate(rules):
        matched = rule.match(body, words)
        if matched is not None:
            return Classification(
                disposition=Disposition(name=rule.name, rule=f"rules[{index}]:{rule.name}"),
                creates_task=rule.creates_task,
                sla=rule.sla,
                matched=matched,
            )
    return Classification(
        disposition=Disposition(name=UNCLASSIFIED, rule="fallback", confidence=0.0),
        creates_task=fallback.creates_task,
        sla=fallback.sla,
        matched="",
    )
