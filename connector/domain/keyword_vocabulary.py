"""The compliance keywords' vocabularies: opt-out, opt-in and help words per language
(English, Spanish and French built in, the admin's merged in by `KeywordRules.extended`),
and `KeywordRules`, which finds them in a reply's words, one misspelling allowed. How a
reply is read with them is in `keywords.py`. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum, unique

from connector.domain import revocation as rv
from connector.domain.revocation import fold


@unique
class KeywordKind(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


KIND_ORDER = (KeywordKind.OPT_OUT, KeywordKind.HELP, KeywordKind.OPT_IN)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """One language's keywords (a word, or a few: "opt out") and extra revocation
    phrases. `strong` opt-out words are revocation cues anywhere; the others ("cancel",
    "end", "alto") count only when the reply is nothing else ("cancel my 3pm" is not)."""

    language: str
    opt_out: frozenset[str] = frozenset()
    opt_in: frozenset[str] = frozenset()
    help: frozenset[str] = frozenset()
    phrases: tuple[str, ...] = ()
    strong: frozenset[str] = frozenset()

    def merged(self, other: Vocabulary) -> Vocabulary:
        return Vocabulary(
            self.language,
            self.opt_out | other.opt_out,
            self.opt_in | other.opt_in,
            self.help | other.help,
            self.phrases + tuple(p for p in other.phrases if p not in self.phrases),
            self.strong | other.strong,
        )


def _set(text: str) -> frozenset[str]:
    return frozenset(w.replace("_", " ") for w in text.split())


BUILTIN_VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary(
        "en",
        opt_out=_set(
            "stop stopall stop_all unsubscribe unsub cancel end quit revoke optout opt_out"
            " remove no_more"
        ),
        opt_in=_set("start unstop yes resubscribe"),
        help=_set("help info"),
        strong=_set("stop stopall stop_all unsubscribe unsub optout opt_out revoke"),
    ),
    Vocabulary(
        "es",
        opt_out=_set("alto parar cancelar basta detener baja no_mas"),
        opt_in=_set("si comenzar inicio"),
        help=_set("ayuda"),
    ),
    Vocabulary(
        "fr",
        opt_out=_set("arret arrete desabonner"),
        opt_in=_set("commencer"),
        help=_set("aide"),
    ),
)  # fmt: skip
# Twilio's defaults, as carriers match them (one word, any case): for reference and tests.
DEFAULT_OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
DEFAULT_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
DEFAULT_HELP = frozenset({"HELP", "INFO"})


@dataclass(frozen=True, slots=True)
class Hit:
    """One keyword found in a reply."""

    kind: KeywordKind
    language: str
    word: str  # as it reads in the vocabulary
    misspelled: bool = False


@dataclass(frozen=True, slots=True)
class KeywordRules:
    """The vocabularies in force (built-in plus the admin's, see `extended`)."""

    vocabularies: tuple[Vocabulary, ...] = BUILTIN_VOCABULARIES
    _words: Mapping[tuple[str, ...], tuple[KeywordKind, str]] = field(
        init=False, repr=False, compare=False
    )
    _strong: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _single: frozenset[str] = field(init=False, repr=False, compare=False)
    _phrases: tuple[tuple[tuple[str, ...], str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found: dict[tuple[str, ...], tuple[KeywordKind, str]] = {}
        strong: set[tuple[str, ...]] = set()
        phrases: list[tuple[tuple[str, ...], str]] = []
        # opt-out first, so a word listed twice is read the conservative way
        for kind in KIND_ORDER:
            for vocab in self.vocabularies:
                words = {
                    KeywordKind.OPT_OUT: vocab.opt_out,
                    KeywordKind.OPT_IN: vocab.opt_in,
                    KeywordKind.HELP: vocab.help,
                }[kind]
                for word in sorted(words):
                    key = tuple(fold(word).split())
                    if key:
                        found.setdefault(key, (kind, vocab.language))
        for vocab in self.vocabularies:
            strong.update(tuple(fold(w).split()) for w in vocab.strong)
            phrases.extend((tuple(fold(p).split()), vocab.language) for p in vocab.phrases)
        object.__setattr__(self, "_words", found)
        object.__setattr__(self, "_strong", frozenset(k for k in strong if k))
        object.__setattr__(self, "_single", frozenset(k[0] for k in found if len(k) == 1))
        object.__setattr__(self, "_phrases", tuple((p, lang) for p, lang in phrases if p))

    @classmethod
    def extended(cls, extra: Iterable[Vocabulary]) -> KeywordRules:
        """The built-in vocabularies with the admin's merged in, language by language."""
        by_language = {v.language: v for v in BUILTIN_VOCABULARIES}
        for vocab in extra:
            known = by_language.get(vocab.language)
            by_language[vocab.language] = vocab if known is None else known.merged(vocab)
        return cls(tuple(by_language.values()))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(v.language for v in self.vocabularies)

    def kind_of(self, word: str) -> KeywordKind | None:
        """The kind of a keyword as written (any case, accents or not), or None."""
        found = self._words.get(tuple(fold(word).split()))
        return found[0] if found else None

    def _hit(self, key: tuple[str, ...]) -> Hit | None:
        found = self._words.get(key)
        if found is not None:
            return Hit(found[0], found[1], " ".join(key))
        if len(key) == 1:
            near = rv.closest(key[0], self._single, rv.NEAR_WORDS)
            if near is not None:
                kind, language = self._words[(near,)]
                return Hit(kind, language, near, misspelled=True)
        return None

    def _pair(self, two: Sequence[str]) -> Hit | None:
        """Two words that are one keyword: "opt out", or one split or misspelled ("sto
        p", "opt ou")."""
        found = self._words.get(tuple(two))
        if found is not None:
            return Hit(found[0], found[1], " ".join(two))
        if min(len(w) for w in two) < 2 or any(w in rv.FILLERS for w in two):
            return None
        joined = self._hit(("".join(two),))
        if joined is None:
            return None
        return Hit(joined.kind, joined.language, joined.word, misspelled=True)

    def segment(self, words: Sequence[str]) -> list[Hit] | None:
        """The keywords `words` consist of, fillers aside; None if anything else is in
        them or no keyword is."""
        hits: list[Hit] = []
        i = 0
        while i < len(words):
            pair = self._pair(words[i : i + 2]) if i + 1 < len(words) else None
            if pair is not None:
                hits.append(pair)
                i += 2
                continue
            hit = self._words.get((words[i],))
            if hit is not None:
                hits.append(Hit(hit[0], hit[1], words[i]))
            elif words[i] not in rv.FILLERS:
                fuzzy = self._hit((words[i],))
                if fuzzy is None:
                    return None
                hits.append(fuzzy)
            i += 1
        return hits or None

    def strong_at(self, clause: Sequence[str], i: int) -> Hit | None:
        """A strong opt-out keyword (or a misspelling of one) starting at `clause[i]`."""
        for n in (2, 1):
            key = tuple(clause[i : i + n])
            if len(key) == n and key in self._strong:
                return self._hit(key)
        hit = self._hit((clause[i],)) if clause[i] not in rv.FILLERS else None
        if hit is not None and hit.misspelled and self.is_strong(hit.word):
            return hit
        return None

    def is_strong(self, word: str) -> bool:
        return tuple(fold(word).split()) in self._strong

    @property
    def phrases(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        return self._phrases


DEFAULT_RULES = KeywordRules()
