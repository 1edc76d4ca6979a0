"""How a reply is read for revocation: folding, clauses, negation, the ordinary uses of
"stop", and misspellings. The phrases themselves are in `revocation_phrases`.

Pure text helpers; `keywords.classify` decides with them. The FCC lets consent be revoked
"by any reasonable means" (47 CFR 64.1200(a)(10)), so the reading is generous where a
reasonable person would be (a keyword anywhere in a short reply, other wording, typos,
Spanish), and careful where the same words are ordinary ("stop by", "bus stop", "don't
stop", "remove me from the cc")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from rapidfuzz.distance import OSA

from connector.domain.revocation_phrases import (
    HELP_PHRASES,
    LIST_NOUN,
    PHRASES,
    TEXT_NOUN,
    Phrase,
)

__all__ = ["HELP_PHRASES", "PHRASES", "Phrase"]


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A clause ends at sentence punctuation, a line break, or a symbol such as an emoji.
_CLAUSE_BREAK = re.compile(r"[.!?;,:\n\r\t\u00a1\u00bf\u2026]+|[^\w\s'\u2019\u2018`\-]+")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_WORD = re.compile(r"[^\w]+")
_RUNS = re.compile(r"(\w)\1{2,}")  # "stoppp" -> "stop", "pleeease" -> "please"
_OBJECT = re.compile(f"{TEXT_NOUN}|{LIST_NOUN}")

# Politeness, emphasis and filler: "STOP please", "I said stop", "ok stop already".
FILLERS = _set(
    """please pls plz plse pleas plss thanks thank you thx ty tks kindly now asap
    immediately already ok okay k kk hey hi hello just i said it this that again right
    seriously omg ugh lol wtf yo guys sir maam dude man me need all u ur sorry oh
    por favor porfa porfavor gracias ya ahora mismo svp stp merci sil vous plait"""
)
NEGATORS = _set(
    "dont don not never didnt doesnt wont cant cannot shouldnt wouldnt isnt arent aint nt"
)
# Carries a negation over one word: "don't ever stop", "I did not say stop".
_CARRY = _set("ever even really just you u say said want to")
# A word before "stop" that makes it a noun or a place: "bus stop", "the stop", "non-stop".
NOUN_BEFORE = _set(
    """a an the this that these those each every next last first one bus train subway
    tram pit rest truck non full my our his her its their whistle final"""
)
# Who stops, when it is not the sender of the texts: "when I stop", "we stop at 5".
SUBJECTS = _set("i we he she they it")
# A word after "stop" that makes it ordinary: "stop by", "stop in", "stop sign".
ORDINARY_AFTER = _set(
    "by in at over for and to sign signs light lights loss watch gap motion there here off"
)
# Objects that make "stop the ..." about something else: "stop the auto-renewal".
DETERMINERS = _set(
    "the my this that our these those a an his her their your ur one two some any all"
)
_ADVERBS = _set("just only simply also even")
_CONTACT_WORDS = _set(
    """texting txting texing textin textng messaging msging mesaging contacting sending
    spamming bothering harassing calling emailing bugging pestering"""
)
# Real words one edit from a keyword: never read as a misspelling of it.
NEAR_WORDS = _set(
    """step stops stoop shop atop slop stow swop stomp stood stoa stor stopt
    cancer cancels canceled quiz quite quilt quid quip suit quint quits quiet quot
    hell held helm heap kelp yelp whelp helps hemp heel
    into intro indo
    stark stare stars smart star starts stat stay
    also auto alta altos salto alot alts halt
    para parer pasar parad paras parra
    pasta baste basts
    retener detenerse
    cancelan cancelas cancelad
    bajo caja baya bala maja raja bajar bajan baje
    ayudo ayude ayudan
    ended ends send bend lend tend mend
    revoked revokes"""
)


def fold(text: str) -> str:
    """Lower case, accents and apostrophes dropped ("don't" -> "dont", "envíes" ->
    "envies"), long letter runs shortened, every other non-word character a space."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _RUNS.sub(r"\1", _APOSTROPHES.sub("", plain))
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


def words(text: str) -> tuple[str, ...]:
    return tuple(fold(text).split())


def clauses(text: str) -> tuple[tuple[str, ...], ...]:
    """The reply's clauses as folded words: "Not interested. Stop." is two clauses."""
    parts = (words(part) for part in _CLAUSE_BREAK.split(text))
    return tuple(p for p in parts if p)


def negated(clause: Sequence[str], index: int) -> bool:
    """A negator just before position `index` ("don't stop"), or two before with a word
    that carries it over between ("don't ever stop", "I did not say stop"); "not
    interested, pls remove" negates the interest, not the removal. A phrase's own negation
    ("don't text me") starts at `index`, so never counts."""
    if index >= 1 and clause[index - 1] in NEGATORS:
        return True
    return index >= 2 and clause[index - 2] in NEGATORS and clause[index - 1] in _CARRY


def _noun_or_subject(clause: Sequence[str], start: int, _end: int) -> str | None:
    before = clause[start - 1] if start > 0 else None
    if before in NOUN_BEFORE:
        return f"a noun after {before!r}"
    if before in SUBJECTS:
        return f"the subject is {before!r}"
    return None


def _ordinary_next(clause: Sequence[str], _start: int, end: int) -> str | None:
    after = clause[end] if end < len(clause) else None
    after2 = clause[end + 1] if end + 1 < len(clause) else None
    if after is None:
        return None
    if after in ORDINARY_AFTER or (after == "me" and after2 == "if"):
        return f"followed by {after!r}"
    if after.endswith("ing") and after not in _CONTACT_WORDS:
        return f"followed by {after!r}"
    return None


def _other_object(clause: Sequence[str], _start: int, end: int) -> str | None:
    """ "stop the auto-renewal", "stop sending the invoice", "unsubscribe just one user",
    "unsubscribed from your newsletter": the object is not the texts."""
    rest = [w for w in clause[end:] if w not in _ADVERBS]
    while rest and rest[0] in ("send", "sending", "me"):
        rest = rest[1:]
    preposition = rest[0] if rest and rest[0] in ("from", "of") else None
    if preposition:
        rest = rest[1:]
    named = [w for w in rest if w not in DETERMINERS]
    if not named or (rest[0] not in DETERMINERS and preposition is None):
        return None
    return None if _OBJECT.fullmatch(named[0]) else f"about {named[0]!r}"


_ORDINARY: tuple[Callable[[Sequence[str], int, int], str | None], ...] = (
    _noun_or_subject,
    _ordinary_next,
    _other_object,
)


def ordinary_stop(clause: Sequence[str], start: int, end: int) -> str | None:
    """Why the keyword at `clause[start:end]` is not a revocation, or None: a noun ("bus
    stop", "an opt out"), a visit ("stop by"), a subject that is not us ("when I stop"),
    or an object that is something else ("stop the auto-renewal", "stop worrying")."""
    for check in _ORDINARY:
        why = check(clause, start, end)
        if why is not None:
            return why
    return None


def find_phrase(
    parts: Iterable[tuple[str, ...]], phrases: Sequence[Phrase]
) -> tuple[Phrase, str] | None:
    """The first phrase found un-negated in a clause, with the text it matched."""
    for clause in parts:
        text = " ".join(clause)
        for phrase in phrases:
            for hit in phrase.pattern.finditer(text):
                if not negated(clause, len(text[: hit.start()].split())):
                    return phrase, hit.group(0).strip()
    return None


def find_words(
    parts: Iterable[tuple[str, ...]], phrases: Iterable[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The first configured phrase found as consecutive words, not negated."""
    chosen = tuple(phrases)
    for clause in parts:
        for phrase in chosen:
            n = len(phrase)
            for i in range(len(clause) - n + 1):
                if clause[i : i + n] == phrase and not negated(clause, i):
                    return phrase
    return None


@lru_cache(maxsize=8192)
def closest(word: str, candidates: frozenset[str], exclude: frozenset[str]) -> str | None:
    """The keyword `word` misspells (one edit, a swap counting as one: STPO, UNSUBCRIBE),
    for words of four letters or more that are not themselves common words."""
    if len(word) < 4 or word in exclude or not word.isalpha():
        return None
    found = [
        c
        for c in sorted(candidates)
        if len(c) >= 4 and abs(len(c) - len(word)) <= 1 and OSA.distance(word, c) <= 1
    ]
    return found[0] if found else None
