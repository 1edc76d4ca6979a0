"""Variants and languages of a play: the split follows the weights, assignment is a pure
function of the contact and the play, the holdout stays outside, the arm's text and delay
are what governance sends, and the contact's language picks the template."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import load_plays, to_policy, validate_plays_paths
from connector.domain.caps import SendKind
from connector.domain.governance import evaluate
from connector.domain.keywords import KeywordKind
from connector.domain.model import Verdict
from connector.domain.plays import OutsideWindow, Play
from connector.domain.templates import Template, TokenSpec
from connector.domain.variants import Variant, apply, assign, choose_template
from tests.unit.governance_kit import NOON_NY, make_ctx, make_play, play_send, policy_with

ROOT = Path(__file__).resolve().parents[2]
HI = {"first_name": TokenSpec(required=True)}


def _play(holdout: float = 0.0) -> Play:
    return replace(
        make_play(holdout=holdout, delay=timedelta(minutes=2)),
        variants=(
            Variant("direct", 70),
            Variant(
                "question",
                20,
                template=Template("Q $first_name?", HI),
                translations={"es": Template("¿P $first_name?", HI)},
                delay=timedelta(minutes=30),
            ),
            Variant("late", 10, outside_window=OutsideWindow.DROP, cooldown=timedelta(days=3)),
        ),
        translations={"es": Template("Hola $first_name", HI)},
    )


def test_split_over_ten_thousand_contacts_is_within_two_points_of_the_weights() -> None:
    play = _play()
    counts = {"direct": 0, "question": 0, "late": 0}
    for i in range(10_000):
        arm = assign(f"Lead:00Q{i:012d}", play)
        assert arm is not None
        counts[arm.variant] += 1
    shares = {k: v / 10_000 for k, v in counts.items()}
    assert abs(shares["direct"] - 0.70) < 0.02
    assert abs(shares["question"] - 0.20) < 0.02
    assert abs(shares["late"] - 0.10) < 0.02


def test_assignment_is_the_same_in_another_process() -> None:
    """A fresh interpreter (a restart, another replica) computes the same arms: the hash
    is blake2b of stable text, never Python's randomised hash()."""
    play = _play()
    keys = [f"Lead:00Q{i:012d}" for i in range(200)]
    here = [a.variant for k in keys if (a := assign(k, play)) is not None]
    code = (
        "import sys; from tests.unit.test_variants import _play; "
        "from connector.domain.variants import assign; p=_play(); "
        "print(','.join(assign(f'Lead:00Q{i:012d}', p).variant for i in range(200)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out.split(",") == here
    assert len(set(here)) == 3


def test_changing_a_weight_reshuffles_and_zero_weight_never_wins() -> None:
    play = _play()
    zero = replace(play, variants=(Variant("a", 0), Variant("b", 1)))
    arms = {a.variant for i in range(500) if (a := assign(f"c{i}", zero)) is not None}
    assert arms == {"b"}
    assert assign("c1", make_play()) is None


def test_the_arm_decides_the_text_and_the_delay_and_is_in_the_evaluation() -> None:
    play = _play()
    policy = policy_with(play)
    seen: dict[str, tuple[str | None, object]] = {}
    for i in range(60):
        ctx = make_ctx(contact_id=f"00Q{i:012d}")
        result = evaluate(play_send(play, NOON_NY), ctx, policy, NOON_NY)
        assert result.variant is not None
        seen[result.variant.variant] = (result.body, result.send_at)
    assert seen["question"][0] is not None
    assert seen["question"][0].startswith("Q Ann?")
    assert seen["question"][1] == NOON_NY + timedelta(minutes=30)
    assert seen["direct"][0] is not None
    assert seen["direct"][0].startswith("Hi Ann")
    assert seen["direct"][1] == NOON_NY + timedelta(minutes=2)


def test_the_holdout_is_decided_first_and_has_no_variant() -> None:
    play = _play(holdout=50)
    policy = policy_with(play)
    held = treated = 0
    for i in range(200):
        ctx = make_ctx(contact_id=f"00Q{i:012d}")
        result = evaluate(play_send(play, NOON_NY), ctx, policy, NOON_NY)
        if result.holdout is not None and result.holdout.held_out:
            held += 1
            assert result.variant is None
            assert result.verdict is Verdict.BLOCK
        else:
            treated += 1
            assert result.variant is not None
    assert held > 50
    assert treated > 50


def test_apply_keeps_what_the_variant_does_not_change() -> None:
    play = _play()
    late = apply(play, play.variants[2])
    assert late.template == play.template
    assert late.timing.outside_window is OutsideWindow.DROP
    assert late.timing.delay == timedelta(minutes=2)
    assert late.cooldown == timedelta(days=3)


@pytest.mark.parametrize(
    ("language", "expected", "chosen"),
    [
        ("es", "Hola", "es"),
        ("es-MX", "Hola", "es"),
        ("Spanish", "Hola", "es"),
        (None, "Hi", "en"),
        ("fr", "Hi", "en"),
        ("", "Hi", "en"),
    ],
)
def test_the_contacts_language_picks_the_template_else_the_fallback(
    language: str | None, expected: str, chosen: str
) -> None:
    template, code = choose_template(_play(), language)
    assert template.text.startswith(expected)
    assert code == chosen


def test_a_spanish_contact_gets_the_spanish_text_and_the_same_quiet_hours() -> None:
    play = _play()
    policy = policy_with(play)
    night = NOON_NY + timedelta(hours=12)  # midnight in New York
    for language in ("es", None):
        base = make_ctx(contact_id="00Q000000000007")
        state = replace(base.state, segments={"language": language} if language else {})
        ctx = replace(base, state=state)
        result = evaluate(play_send(play, night), ctx, policy, night)
        assert result.verdict is Verdict.DEFER
        assert result.send_at is not None
        assert result.send_at.hour == 12
        assert result.inputs is not None
        assert result.inputs.language == ("es" if language else "en")
        assert result.body is not None
        spanish = result.body.startswith(("Hola", "¿P"))
        assert spanish is (language == "es")


def test_the_shipped_play_has_two_variants_and_spanish_and_keyword_answers() -> None:
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml"))
    play = policy.plays["speed_to_lead"]
    assert [v.name for v in play.variants] == ["direct", "question"]
    assert set(play.translations) == {"es"}
    help_es = policy.keywords.text_for(KeywordKind.HELP, "es")
    stop_es = policy.keywords.text_for(KeywordKind.OPT_OUT, "es-MX")
    assert help_es is not None
    assert "Ayuda" in help_es
    assert stop_es is not None
    assert "no recibirás más mensajes" in stop_es
    assert policy.keywords.text_for(KeywordKind.HELP, None) == policy.keywords.help_text
    assert policy.keywords.text_for(KeywordKind.OPT_OUT, "de") == (
        policy.keywords.opt_out_confirmation
    )


PLAY = """\
version: 1
plays:
  - name: nudge
    owner_team: sdr
    priority: 10
    outcome: {disposition: interested}
    trigger: {inactive_days: 14}
    template: {text: "Hi $first_name", tokens: {first_name: {}}}
    translations:
      es: {text: "Hola $first_name", tokens: {first_name: {}}}
"""


@pytest.mark.parametrize(
    ("extra", "where", "text"),
    [
        (
            "    variants:\n      - {name: a, weight: -1}\n      - {name: b, weight: 1}\n",
            (12, 27),
            "greater than or equal to 0",
        ),
        (
            "    variants:\n      - {name: a, weight: 0}\n      - {name: b, weight: 0}\n",
            (11, 5),
            "weights are all 0",
        ),
        (
            (
                "    variants:\n      - name: a\n        weight: 1\n"
                '        template: {text: "Yo $first_name", tokens: {first_name: {}}}\n'
            ),
            (14, 19),
            "variant a has no es template",
        ),
        (
            (
                "    variants:\n      - name: a\n        weight: 1\n"
                '        template: {text: "Yo", tokens: {}}\n'
                '        translations: {es: {text: "Yo"}, fr: {text: "Yo"}}\n'
            ),
            (15, 46),
            "the play has no fr template",
        ),
        ('      en: {text: "Hi"}\n', (11, 11), "fallback language"),
        (
            (
                "    variants:\n      - name: a\n        weight: 1\n"
                '        template: {text: "Yo $nom", tokens: {}}\n'
                '        translations: {es: {text: "Yo"}}\n'
            ),
            (14, 30),
            "token $nom is not declared",
        ),
    ],
)
def test_bad_variants_and_languages_are_located(
    tmp_path: Path, extra: str, where: tuple[int, int], text: str
) -> None:
    path = tmp_path / "plays.yaml"
    path.write_text(PLAY + extra, encoding="utf-8")
    problems = validate_plays_paths([path])
    assert any((p.line, p.col) == where and text in p.message for p in problems), problems


def test_cli_exits_2_on_a_negative_weight(tmp_path: Path) -> None:
    path = tmp_path / "plays.yaml"
    path.write_text(PLAY + "    variants:\n      - {name: a, weight: -1}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "connector.cli", "mappings", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert f"{path}:12:27:" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_keyword_answer_speaks_the_contacts_language_else_the_keywords() -> None:
    from connector.domain.keywords import classify
    from connector.domain.model import ContactState, CrmRef
    from connector.engine.auto_replies import language

    alto = classify("ALTO")
    stop = classify("STOP")
    assert alto is not None
    assert stop is not None
    spanish = ContactState(ref=CrmRef("Lead", "1"), phone=None, segments={"language": "es"})
    silent = ContactState(ref=CrmRef("Lead", "2"), phone=None)
    assert language(spanish, stop) == "es"  # the contact's language wins
    assert language(silent, alto) == "es"  # ALTO is Spanish
    assert language(None, alto) == "es"  # a number on no record
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml"))
    answer = policy.keywords.text_for(KeywordKind.OPT_OUT, language(silent, alto))
    assert answer is not None
    assert answer.startswith("Acme Sales: te diste de baja")


@pytest.mark.parametrize("case", ["opted_out", "caps", "quiet_drop"])
def test_consent_caps_and_quiet_hours_decide_alike_in_every_language(case: str) -> None:
    from connector.domain.caps import SentRecord
    from connector.domain.model import ConsentStatus

    play = replace(_play(), timing=replace(_play().timing, outside_window=OutsideWindow.DROP))
    policy = policy_with(play)
    now = NOON_NY + timedelta(hours=12) if case == "quiet_drop" else NOON_NY
    verdicts = []
    for language in ("es", "en", None):
        consent = ConsentStatus.OPTED_OUT if case == "opted_out" else ConsentStatus.OPTED_IN
        base = make_ctx(consent=consent, contact_id="00Q000000000009")
        state = replace(base.state, segments={"language": language} if language else {})
        sends = (
            tuple(SentRecord(NOON_NY - timedelta(minutes=m), SendKind.PLAY, "x") for m in (1, 2))
            if case == "caps"
            else ()
        )
        ctx = replace(base, state=state, sends=sends)
        result = evaluate(play_send(play, now), ctx, policy, now)
        verdicts.append((result.verdict, result.decision.reasons))
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert verdicts[0][0] is Verdict.BLOCK
    assert verdicts[0][1] == (
        {"opted_out": ("opted_out",), "caps": ("daily_cap",)}.get(case, ("quiet_hours",))
    )
