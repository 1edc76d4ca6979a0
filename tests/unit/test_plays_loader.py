"""The plays file: the example loads clean, mistakes are located FILE:LINE:COL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import (
    MappingConfig,
    load_mapping,
    load_plays,
    to_policy,
    validate_plays_paths,
)
from connector.domain.keyword_replies import AnsweredBy
from connector.domain.keywords import KeywordKind, KeywordRule, classify
from connector.domain.plays import OutsideWindow, TriggerKind
from connector.domain.policy import ConsentMode
from connector.domain.purposes import RevocationScope
from connector.errors import MappingError, PlaysError, Problem

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "mappings" / "plays.yaml"
DATA = ROOT / "tests" / "data" / "plays"


@pytest.fixture(scope="module")
def mapping() -> MappingConfig:
    return load_mapping(ROOT / "mappings" / "salesforce.yaml")


def located(problems: list[Problem]) -> list[tuple[int, int]]:
    return [(p.line, p.col) for p in problems]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_example_loads_clean_against_both_mappings(crm: str) -> None:
    mapping = load_mapping(ROOT / "mappings" / f"{crm}.yaml")
    assert validate_plays_paths([EXAMPLE], mapping) == []
    policy = to_policy(load_plays(EXAMPLE, mapping))
    assert set(policy.plays) == {
        "speed_to_lead",
        "meeting_confirmation",
        "no_show_prevention",
        "stalled_stage_nudge",
        "renewal_reminder",
        "reactivation",
    }


def test_example_converts_to_the_domain(mapping: MappingConfig) -> None:
    policy = to_policy(load_plays(EXAMPLE, mapping))
    assert policy.consent.mode("TX") is ConsentMode.OPT_OUT_ONLY
    assert policy.consent.mode("CA") is ConsentMode.OPT_IN_REQUIRED
    assert policy.state_rules.rules["FL"].describe_hours() == "08:00-20:00"  # the pack
    assert policy.opt_out_instruction.for_language("es").startswith("Responde ALTO")
    assert policy.business_hours.days == frozenset(range(5))
    speed = policy.plays["speed_to_lead"]
    assert speed.timing.delay == timedelta(minutes=2)
    assert speed.timing.outside_window is OutsideWindow.DROP
    assert speed.trigger.kind is TriggerKind.STAGE_ENTERED
    no_show = policy.plays["no_show_prevention"].trigger
    assert no_show.kind is TriggerKind.DATE_APPROACHING
    assert no_show.before == timedelta(hours=2)
    reactivation = policy.plays["reactivation"].trigger
    assert (reactivation.from_value, reactivation.to_value) == ("disqualified", "lead")
    confirmation = policy.plays["meeting_confirmation"].template
    assert not confirmation.tokens["first_name"].required
    assert {n: p.purpose for n, p in policy.plays.items()} == {
        "speed_to_lead": "marketing",
        "meeting_confirmation": "transactional",
        "no_show_prevention": "informational",
        "stalled_stage_nudge": "marketing",
        "renewal_reminder": "renewals",
        "reactivation": "marketing",
    }
    assert policy.purposes.scope is RevocationScope.ALL


def test_unknown_key_token_not_in_mapping_and_bad_window_are_three_problems(
    mapping: MappingConfig,
) -> None:
    path = DATA / "three_problems.yaml"
    with pytest.raises(PlaysError) as caught:
        load_plays(path, mapping)
    assert not isinstance(caught.value, MappingError)  # a plays file's own error
    problems = caught.value.problems
    assert located(problems) == [(9, 5), (15, 36), (21, 5)]
    assert problems[0].message.startswith(
        "plays[0].cooldwon: unknown key; did you mean 'cooldown'?"
    )
    assert problems[1].message.startswith(
        "plays[0].template.text: token $favourite_colour is not a field the mapping maps"
    )
    assert problems[2].message.startswith(
        "policy.quiet_hours.default: end 08:00 must be after start 21:00"
    )
    assert str(problems[0]).startswith(f"{path}:9:5: ")


def test_without_a_mapping_any_declared_token_is_fine() -> None:
    assert located(validate_plays_paths([DATA / "three_problems.yaml"])) == [(9, 5), (21, 5)]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plays.yaml"
    path.write_text(text, encoding="utf-8")
    return path


PLAY = """\
version: 1
plays:
  - name: nudge
    owner_team: sdr
    priority: 10
    outcome: {disposition: interested}
    trigger: {inactive_days: 14}
"""


def test_undeclared_token_and_stray_dollar_in_a_block_scalar(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        PLAY
        + "    template:\n"
        + "      text: |\n"
        + "        Hi $first_name,\n"
        + "        it costs 5$ and ${owner_name} says hi\n"
        + "      tokens:\n"
        + "        first_name: {required: true}\n",
    )
    problems = validate_plays_paths([path])
    assert located(problems) == [(11, 19), (11, 25)]
    assert "a '$' is not followed by a token name" in problems[0].message
    assert "token $owner_name is not declared" in problems[1].message


@pytest.mark.parametrize(
    ("extra", "where", "text"),
    [
        ("    timing: {delay: 2h, expires_after: 1h}\n", (9, 5), "expires_after must be longer"),
        ("    timing: {delay: 15}\n", (9, 21), "expected a duration with a unit"),
        ("    cooldown: 3 days\n", (9, 15), "expected a duration like"),
        ("    holdout_percent: 120\n", (9, 22), "less than or equal to 100"),
    ],
)
def test_single_value_problems(
    tmp_path: Path, extra: str, where: tuple[int, int], text: str
) -> None:
    template = '    template: {text: "Hi"}\n'
    problems = validate_plays_paths([_write(tmp_path, PLAY + template + extra)])
    assert located(problems) == [where]
    assert text in problems[0].message


def test_trigger_needs_exactly_one_signal(tmp_path: Path) -> None:
    text = PLAY.replace(
        "trigger: {inactive_days: 14}", "trigger: {inactive_days: 14, stage_entered: new}"
    )
    problems = validate_plays_paths([_write(tmp_path, text + '    template: {text: "Hi"}\n')])
    assert located(problems) == [(7, 5)]
    assert "exactly one of" in problems[0].message


def test_duplicate_play_names(tmp_path: Path) -> None:
    body = PLAY.split("plays:\n", 1)[1] + '    template: {text: "Hi"}\n'
    problems = validate_plays_paths([_write(tmp_path, "version: 1\nplays:\n" + body + body)])
    assert len(problems) == 1
    assert "defined more than once" in problems[0].message


def test_the_example_keywords_policy_converts(mapping: MappingConfig) -> None:
    keywords = to_policy(load_plays(EXAMPLE, mapping)).keywords
    assert keywords.answered_by is AnsweredBy.SMSYNC
    assert keywords.help_text is not None
    assert "Reply STOP to opt out" in keywords.help_text
    assert "no more messages" in keywords.opt_out_confirmation
    found = classify("Ya no me interesa recibir mensajes, gracias", rules=keywords.rules)
    assert found is not None
    assert (found.kind, found.rule) == (KeywordKind.OPT_OUT, KeywordRule.CONFIGURED)


def test_keyword_texts_and_words_are_checked_where_they_are_written() -> None:
    problems = validate_plays_paths([DATA / "bad_keywords.yaml"])
    assert located(problems) == [(7, 16), (8, 27), (11, 29), (12, 19), (13, 7)]
    messages = [p.message for p in problems]
    assert 'the HELP answer must say how to opt out; add "Reply STOP to opt out."' in messages[0]
    assert "must say the person will get no more messages" in messages[1]
    assert "no marketing content" in messages[1]
    assert "'yes' is a built-in opt_in keyword" in messages[2]
    assert "a phrase is 2 to 12 words" in messages[3]
    assert "is not a language code" in messages[4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Acme: reply STOP to opt out. Msg & data rates may apply.", "help contact"),
        ("Acme. Help: 1-800-555-0199 or help@acme.example", "how to opt out"),
        ("x" * 1601, "the provider refuses more than 1600"),
    ],
)
def test_a_help_text_needs_its_parts(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "plays.yaml"
    body = (DATA / "scenario.yaml").read_text(encoding="utf-8")
    path.write_text(
        body.replace("policy:\n", f"policy:\n  keywords:\n    help_text: {text!r}\n", 1),
        encoding="utf-8",
    )
    [problem] = validate_plays_paths([path])
    assert problem.message.startswith("policy.keywords.help_text:")
    assert expected in problem.message
    assert (problem.line, problem.col) == (6, 16)  # at the text, under policy.keywords


def test_bad_state_rules_are_located_with_the_fix() -> None:
    problems = validate_plays_paths([DATA / "bad_state_rules.yaml"])
    assert located(problems) == [(14, 7), (18, 13), (22, 26), (25, 30)]
    assert "'ZZ' is not a US state or territory code; use a two-letter code" in (
        problems[0].message
    )
    assert "FL.hours[0]: end 08:00 must be after start 20:00" in problems[1].message
    assert "'funday' is not one of mon, tue" in problems[2].message
    assert "OK.subject_cap.texts: texts is -1; a cap counts texts: use 0 or more" in (
        problems[3].message
    )


def test_state_rules_replace_add_or_turn_off_the_pack(tmp_path: Path) -> None:
    text = (
        PLAY
        + '    template: {text: "Hi"}\n'
        + "policy:\n"
        + "  state_rules:\n"
        + "    states:\n"
        + "      FL: {hours: [{start: '10:00', end: '19:00'}], law: house rule}\n"
        + "      CO:\n"
        + "        hours:\n"
        + "          - {days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00'}\n"
        + "        holidays: true\n"
        + "        subject_cap: {texts: 2, per: 12h}\n"
    )
    rules = to_policy(load_plays(_write(tmp_path, text))).state_rules.rules
    assert rules["FL"].describe() == "FL: 10:00-19:00 (house rule)"  # replaced whole
    assert rules["CO"].describe() == (
        "CO: Mon-Fri 09:00-17:00; none on Sat, Sun; none on state holidays;"
        " 2 texts per 12 hours on one subject"
    )
    assert "TX" in rules  # the rest of the pack stays
    off = text.replace("  state_rules:\n", "  state_rules:\n    pack: none\n")
    assert set(to_policy(load_plays(_write(tmp_path, off))).state_rules.rules) == {"FL", "CO"}
    default = to_policy(load_plays(_write(tmp_path, PLAY + '    template: {text: "Hi"}\n')))
    assert len(default.state_rules.rules) == 15  # on by default


def test_a_day_in_two_hours_entries_and_an_instruction_without_a_keyword(tmp_path: Path) -> None:
    text = (
        PLAY
        + '    template: {text: "Hi"}\n'
        + "policy:\n"
        + "  opt_out_instruction: {text: 'Text us to leave.'}\n"
        + "  state_rules:\n"
        + "    states:\n"
        + "      TX:\n"
        + "        hours:\n"
        + "          - {days: [sat, sun], start: '12:00', end: '21:00'}\n"
        + "          - {days: [mon, sat], start: '09:00', end: '21:00'}\n"
    )
    problems = validate_plays_paths([_write(tmp_path, text)])
    assert located(problems) == [(10, 3), (13, 7)]
    assert "'Text us to leave.' does not say how to opt out" in problems[0].message
    assert "sat is in two hours entries; give each day one span" in problems[1].message


def test_purposes_and_the_revocation_scope_convert(tmp_path: Path) -> None:
    text = (
        PLAY
        + '    template: {text: "Hi"}\n'
        + "    purpose: renewals\n"
        + "policy:\n"
        + "  purposes: [renewals]\n"
        + "  revocation_scope: purpose\n"
        + "  attribution_window: 24h\n"
    )
    policy = to_policy(load_plays(_write(tmp_path, text)))
    assert policy.plays["nudge"].purpose == "renewals"
    assert policy.purposes.scope is RevocationScope.PURPOSE
    assert policy.purposes.attribution_window == timedelta(hours=24)
    default = to_policy(load_plays(_write(tmp_path, PLAY + '    template: {text: "Hi"}\n')))
    assert default.plays["nudge"].purpose == "marketing"  # omitted: the strictest
    assert default.purposes.scope is RevocationScope.ALL
    assert default.purposes.attribution_window == timedelta(hours=72)


def test_a_bad_scope_window_or_undeclared_purpose_is_located(tmp_path: Path) -> None:
    text = (
        PLAY
        + '    template: {text: "Hi"}\n'
        + "    purpose: reminders\n"
        + "policy:\n"
        + "  revocation_scope: some\n"
        + "  attribution_window: 0s\n"
    )
    problems = validate_plays_paths([_write(tmp_path, text)])
    assert located(problems) == [(9, 14), (11, 21), (12, 23)]
    assert "unknown purpose 'reminders'" in problems[0].message
    assert "declare it under policy.purposes" in problems[0].message
    assert "policy.revocation_scope" in problems[1].message
    assert "is not one of all, purpose" in problems[1].message
    assert "positive duration" in problems[2].message
