"""The validated plays file as the domain's plain frozen records: the governance `Policy`
with its plays, keyword policy and state rules (`to_policy`)."""

from __future__ import annotations

from datetime import time

from connector.config.keywords_schema import KeywordsSpec
from connector.config.plays_links import with_params
from connector.config.plays_policy import CapsSpec, PredicateSpec, StateRulesSpec, WindowSpec
from connector.config.plays_schema import (
    OutcomeSpec,
    PlaysConfig,
    PlaySpec,
    StageSpec,
    TemplateSpec,
    TriggerSpec,
    VariantSpec,
)
from connector.config.values import ALL_WEEKDAYS
from connector.domain.caps import FrequencyCaps
from connector.domain.disclosure import OptOutInstruction
from connector.domain.keyword_replies import AnsweredBy, KeywordPolicy
from connector.domain.keywords import KeywordRules, Vocabulary
from connector.domain.links import LinkSpec
from connector.domain.plays import (
    LIFECYCLE_STAGE,
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
from connector.domain.purposes import PurposePolicy, RevocationScope
from connector.domain.quiet_hours import Window
from connector.domain.state_pack import PACKS
from connector.domain.state_rules import StateRule, StateRules, SubjectCap
from connector.domain.templates import Template, TokenSpec
from connector.domain.variants import Variant


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


def _stage_trigger(stage: str | StageSpec) -> Trigger:
    if isinstance(stage, str):
        return Trigger(TriggerKind.STAGE_ENTERED, field=LIFECYCLE_STAGE, to_value=stage)
    return Trigger(TriggerKind.STAGE_ENTERED, field=stage.field, to_value=stage.stage)


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
        return _stage_trigger(spec.stage_entered)
    if spec.meeting_booked is not None:
        return Trigger(TriggerKind.MEETING_BOOKED)
    if spec.date_approaching is not None:
        offset = spec.date_approaching
        return Trigger(TriggerKind.DATE_APPROACHING, field=offset.field, before=offset.before)
    if spec.inactive_days is not None:
        return Trigger(TriggerKind.INACTIVE, days=spec.inactive_days)
    return _form_or_click(spec)


def _form_or_click(spec: TriggerSpec) -> Trigger:
    if spec.link_clicked is not None:
        return Trigger(TriggerKind.LINK_CLICKED, form=spec.link_clicked.link)
    form = spec.form_submitted.form if spec.form_submitted is not None else None
    return Trigger(TriggerKind.FORM_SUBMITTED, form=form)


def _template(spec: TemplateSpec) -> Template:
    return Template(
        spec.text,
        {
            name: TokenSpec(required=t.required, fallback=t.fallback)
            for name, t in spec.tokens.items()
        },
    )


def _variant(spec: VariantSpec) -> Variant:
    timing = spec.timing
    return Variant(
        name=spec.name,
        weight=spec.weight,
        template=_template(spec.template) if spec.template is not None else None,
        translations={k: _template(t) for k, t in spec.translations.items()},
        delay=timing.delay if timing is not None else None,
        business_hours_only=timing.business_hours_only if timing is not None else None,
        outside_window=(
            OutsideWindow(timing.outside_window)
            if timing is not None and timing.outside_window is not None
            else None
        ),
        cooldown=spec.cooldown,
    )


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
        template=_template(spec.template),
        cooldown=spec.cooldown,
        holdout_percent=spec.holdout_percent,
        caps=_caps(spec.caps) if spec.caps is not None else None,
        exclusions=tuple(_predicate(p) for p in spec.exclusions),
        purpose=spec.purpose,
        on_drop=spec.on_drop,
        variants=tuple(_variant(v) for v in spec.variants),
        language=spec.language,
        translations={k: _template(t) for k, t in spec.translations.items()},
        links={
            name: LinkSpec(
                name,
                link.url,
                with_params(link.url, link.utm),
                link.high_intent,
                link.talk_track,
            )
            for name, link in spec.links.items()
        },
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
        help_by_language={k: w.help_text for k, w in spec.languages.items() if w.help_text},
        confirmation_by_language={
            k: w.opt_out_confirmation for k, w in spec.languages.items() if w.opt_out_confirmation
        },
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
        purposes=PurposePolicy(
            scope=RevocationScope(spec.revocation_scope),
            attribution_window=spec.attribution_window,
        ),
    )
