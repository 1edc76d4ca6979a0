"""Entry points for the plays file: load it, validate several, and convert it to the
domain's plain records (`to_policy`).

Template tokens are checked here, on the raw document, so every problem in a file is
reported together and each bad token is located at the token itself: it must be declared
under `tokens`, and, when a mapping is given, be a canonical field the mapping maps or a
built-in (first_name, owner_name, meeting_time, ...).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import time
from pathlib import Path

from connector.config.keywords_schema import KeywordsSpec
from connector.config.mapping_schema import MappingConfig
from connector.config.plays_schema import (
    ALL_WEEKDAYS,
    CapsSpec,
    OutcomeSpec,
    PlaysConfig,
    PlaySpec,
    PredicateSpec,
    StateRulesSpec,
    TriggerSpec,
    WindowSpec,
)
from connector.config.validation import validate_document
from connector.config.yaml_source import YamlDocument, YamlPath, format_path, read_yaml
from connector.domain.caps import FrequencyCaps
from connector.domain.disclosure import OptOutInstruction
from connector.domain.keyword_replies import AnsweredBy, KeywordPolicy
from connector.domain.keywords import KeywordRules, Vocabulary
from connector.domain.plays import (
    FieldPredicate,
    Outcome,
    OutsideWindow,
    Play,
    PredicateOp,
    Timing,
    Trigger,
    TriggerKind,
)
from connector.domain.policy import (
    ConsentMode,
    ConsentPolicy,
    Policy,
    QuietHours,
    Suppression,
    UnknownZone,
)
from connector.domain.quiet_hours import Window
from connector.domain.state_pack import PACKS
from connector.domain.state_rules import StateRule, StateRules, SubjectCap
from connector.domain.templates import BUILTIN_TOKENS, Template, TokenSpec, scan
from connector.errors import PlaysError, Problem


def mapped_fields(mapping: MappingConfig) -> frozenset[str]:
    """Canonical names the mapping gives a CRM field for, on any object."""
    names: set[str] = set()
    maps = [mapping.fields, *(mapping.field_map(name) for name in mapping.object_names)]
    for field_map in maps:
        names.update(k for k, v in field_map if k != "segments" and v is not None)
        names.update(field_map.segments)
    return frozenset(names)


def _offsets(text: str) -> list[int]:
    """Character offset at which each 1-based line starts."""
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


class _Locator:
    """Finds where a piece of a scalar's text sits in the file, searching forward from the
    scalar's start so quoting and block scalars do not matter."""

    def __init__(self, doc: YamlDocument, source: str) -> None:
        self.doc = doc
        self.source = source
        self.starts = _offsets(source)

    def position(self, path: YamlPath, pieces: Sequence[str]) -> list[tuple[int, int]]:
        start = self.doc.nearest(path)
        cursor = self.starts[start.line - 1] + start.col - 1 if self.source else 0
        fallback = (start.line, start.col)
        found: list[tuple[int, int]] = []
        for piece in pieces:
            at = self.source.find(piece, cursor)
            if at < 0:
                found.append(fallback)
                continue
            cursor = at + len(piece)
            line = max(i for i, s in enumerate(self.starts) if s <= at)
            found.append((line + 1, at - self.starts[line] + 1))
        return found


def _token_problems(doc: YamlDocument, source: str, mapping: MappingConfig | None) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    plays = data.get("plays")
    if not isinstance(plays, list):
        return []
    allowed = None if mapping is None else sorted(mapped_fields(mapping) | set(BUILTIN_TOKENS))
    locator = _Locator(doc, source)
    problems: list[Problem] = []
    for index, play in enumerate(plays):
        template = play.get("template") if isinstance(play, dict) else None
        if not isinstance(template, dict) or not isinstance(template.get("text"), str):
            continue
        text: str = template["text"]
        declared = template.get("tokens")
        declared_names = set(declared) if isinstance(declared, dict) else None
        path: YamlPath = ("plays", index, "template", "text")
        uses, bad = scan(text)
        pieces = [u.raw for u in uses]
        reported: set[str] = set()
        for use, (line, col) in zip(uses, locator.position(path, pieces), strict=True):
            message = _token_message(use.name, declared_names, allowed)
            if message and use.name not in reported:
                reported.add(use.name)
                problems.append(Problem(doc.file, line, col, f"{format_path(path)}: {message}"))
        for line, col in locator.position(
            path, ["$" + text[b.offset + 1 : b.offset + 2] for b in bad]
        ):
            problems.append(
                Problem(
                    doc.file,
                    line,
                    col,
                    f"{format_path(path)}: a '$' is not followed by a token name; write $$"
                    " for a dollar sign, or ${name} for a token",
                )
            )
    return problems


def _token_message(name: str, declared: set[str] | None, allowed: list[str] | None) -> str:
    if allowed is not None and name not in allowed:
        hint = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        suggestion = f"did you mean ${hint[0]}? " if hint else ""
        return (
            f"token ${name} is not a field the mapping maps nor a built-in; {suggestion}"
            f"use one of {', '.join(allowed)}"
        )
    if declared is not None and name not in declared:
        return f"token ${name} is not declared; add `{name}: {{required: true}}` under tokens"
    return ""


def check_plays(
    path: str | Path, mapping: MappingConfig | None = None
) -> tuple[PlaysConfig | None, list[Problem]]:
    """The validated file (None if anything is wrong) and every problem, sorted by place."""
    doc = read_yaml(path)
    config, problems = validate_document(PlaysConfig, doc)
    if doc.data is not None:  # doc.text: the file as read once, within the size cap
        problems = sorted(
            set(problems) | set(_token_problems(doc, doc.text, mapping)),
            key=lambda p: (p.line, p.col, p.message),
        )
    return (config if not problems else None), problems


def load_plays(path: str | Path, mapping: MappingConfig | None = None) -> PlaysConfig:
    """The validated plays file, or `PlaysError` listing every problem in it."""
    config, problems = check_plays(path, mapping)
    if config is None:
        raise PlaysError(problems)
    return config


def validate_plays_paths(
    paths: Sequence[str | Path], mapping: MappingConfig | None = None
) -> list[Problem]:
    """Every problem across the files; an empty list means they are all fine."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(check_plays(path, mapping)[1])
    return problems


# --- to the domain ----------------------------------------------------------------------


def _window(spec: WindowSpec) -> Window:
    days = frozenset(ALL_WEEKDAYS.index(d) for d in spec.days)
    return Window(time(spec.start.hour, spec.start.minute), spec.end, days)


def _caps(spec: CapsSpec) -> FrequencyCaps:
    return FrequencyCaps(per_day=spec.per_day, per_week=spec.per_week)


def _predicate(spec: PredicateSpec) -> FieldPredicate:
    return FieldPredicate(spec.field, PredicateOp(spec.op), spec.values)


def _outcome(spec: OutcomeSpec) -> Outcome:
    if spec.field is not None:
        return Outcome(condition=FieldPredicate(spec.field, PredicateOp(spec.op), spec.values))
    return Outcome(disposition=spec.disposition)


def _trigger(spec: TriggerSpec) -> Trigger:
    if spec.field_changed is not None:
        change = spec.field_changed
        return Trigger(
            TriggerKind.FIELD_CHANGED,
            field=change.field,
            from_value=change.from_,
            to_value=change.to,
        )
    if spec.stage_entered is not None:
        return Trigger(TriggerKind.STAGE_ENTERED, to_value=spec.stage_entered)
    if spec.meeting_booked is not None:
        return Trigger(TriggerKind.MEETING_BOOKED)
    if spec.date_approaching is not None:
        offset = spec.date_approaching
        return Trigger(TriggerKind.DATE_APPROACHING, field=offset.field, before=offset.before)
    if spec.inactive_days is not None:
        return Trigger(TriggerKind.INACTIVE, days=spec.inactive_days)
    form = spec.form_submitted.form if spec.form_submitted is not None else None
    return Trigger(TriggerKind.FORM_SUBMITTED, form=form)


def to_play(spec: PlaySpec) -> Play:
    timing = spec.timing
    return Play(
        name=spec.name,
        owner_team=spec.owner_team,
        priority=spec.priority,
        outcome=_outcome(spec.outcome),
        trigger=_trigger(spec.trigger),
        timing=Timing(
            delay=timing.delay,
            business_hours_only=timing.business_hours_only,
            expires_after=timing.expires_after,
            outside_window=OutsideWindow(timing.outside_window),
        ),
        template=Template(
            spec.template.text,
            {
                name: TokenSpec(required=t.required, fallback=t.fallback)
                for name, t in spec.template.tokens.items()
            },
        ),
        cooldown=spec.cooldown,
        holdout_percent=spec.holdout_percent,
        caps=_caps(spec.caps) if spec.caps is not None else None,
        exclusions=tuple(_predicate(p) for p in spec.exclusions),
    )


def to_keywords(spec: KeywordsSpec) -> KeywordPolicy:
    vocabularies = [
        Vocabulary(
            language,
            opt_out=frozenset(words.opt_out),
            opt_in=frozenset(words.opt_in),
            help=frozenset(words.help),
            phrases=tuple(words.phrases),
        )
        for language, words in spec.languages.items()
    ]
    return KeywordPolicy(
        answered_by=AnsweredBy(spec.answered_by),
        help_text=spec.help_text,
        opt_out_confirmation=spec.opt_out_confirmation,
        rules=KeywordRules.extended(vocabularies),
    )


def to_state_rules(spec: StateRulesSpec) -> StateRules:
    """The pack, with the plays file's states added or replacing the pack's."""
    rules = dict(PACKS[spec.pack].rules)
    for code, rule in spec.states.items():
        cap = rule.subject_cap
        rules[code] = StateRule(
            code,
            tuple(_window(w) for w in rule.hours),
            holidays=rule.holidays,
            subject_cap=SubjectCap(cap.texts, cap.per) if cap is not None else None,
            law=rule.law,
        )
    return StateRules(rules)


def to_policy(config: PlaysConfig) -> Policy:
    """The governance policy, with its plays, as the domain's plain frozen records."""
    spec = config.policy
    quiet = spec.quiet_hours
    suppression = spec.suppression
    return Policy(
        consent=ConsentPolicy(
            default=ConsentMode(spec.consent.default),
            by_region={k: ConsentMode(v) for k, v in spec.consent.regions.items()},
        ),
        quiet_hours=QuietHours(
            default=_window(quiet.default),
            by_region={k: _window(v) for k, v in quiet.regions.items()},
            by_zone={k: _window(v) for k, v in quiet.zones.items()},
            unknown_zone=UnknownZone(quiet.unknown_zone),
            default_zone=quiet.default_zone,
        ),
        business_hours=_window(spec.business_hours),
        caps=_caps(spec.caps),
        suppression=Suppression(
            active_conversation=suppression.active_conversation,
            rep_engaged=suppression.rep_engaged,
            not_now_cooldown=suppression.not_now_cooldown,
            exclusions=tuple(_predicate(p) for p in suppression.exclusions),
        ),
        region_segment=spec.region_segment,
        plays={p.name: to_play(p) for p in config.plays},
        keywords=to_keywords(spec.keywords),
        state_rules=to_state_rules(spec.state_rules),
        opt_out_instruction=OptOutInstruction(
            text=spec.opt_out_instruction.text,
            by_language=dict(spec.opt_out_instruction.languages),
            enabled=spec.opt_out_instruction.enabled,
        ),
    )
