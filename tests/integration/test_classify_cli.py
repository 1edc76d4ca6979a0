"""`smsync classify` as an admin runs it before deploying: the real process, the example
mapping's disposition rules and the example plays file's keyword policy, real exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_kit import smsync

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"text", "compliance", "disposition", "rule", "creates_task"}


def _json(*args: str, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    result = smsync("classify", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_one_object_per_text_with_compliance_disposition_rule_and_task() -> None:
    texts = [
        "YES",
        "please stop texting me",
        "No me envíes más mensajes",
        "STPO",
        "HELP",
        "How much does it cost?",
        "Remove me from the cc on the email and add my colleague",
        "I told you guys to stop like three times now",
    ]
    found = _json(*texts)
    assert [f["text"] for f in found] == texts
    assert all(set(f) >= KEYS for f in found)
    by_text = {str(f["text"]): f for f in found}
    yes = by_text["YES"]
    assert (yes["compliance"], yes["disposition"]) == (None, "confirmed")
    assert str(yes["rule"]).endswith(":confirmed")
    for text in ("please stop texting me", "No me envíes más mensajes", "STPO"):
        out = by_text[text]
        assert (out["compliance"], out["disposition"], out["creates_task"]) == (
            "opt_out",
            "opted_out",
            False,
        )
        reply = out["reply"]
        assert isinstance(reply, dict)
        assert reply["sent_by"] == "smsync"
        assert "no more messages" in str(reply["text"])
    assert by_text["No me envíes más mensajes"]["language"] == "es"
    assert by_text["STPO"]["rule"] == "compliance:keyword_misspelled"
    help_ = by_text["HELP"]
    assert help_["compliance"] == "help"
    assert "Reply STOP to opt out" in str(help_["reply"])
    pricing = by_text["How much does it cost?"]
    assert (pricing["compliance"], pricing["disposition"], pricing["creates_task"]) == (
        None,
        "pricing_question",
        True,
    )
    assert by_text["Remove me from the cc on the email and add my colleague"]["compliance"] is None
    unsure = by_text["I told you guys to stop like three times now"]
    assert (unsure["compliance"], unsure["unsure"], unsure["task"]) == (
        "opt_out",
        True,
        "opt_out_review",
    )
    assert unsure["creates_task"] is True


def test_yes_is_an_opt_in_only_from_an_opted_out_number_on_both_crms() -> None:
    for crm in ("salesforce", "hubspot"):
        env = {"SMSYNC_CRM": crm}
        [plain] = _json("YES", env=env)
        assert (plain["compliance"], plain["disposition"]) == (None, "confirmed")
        [opted_out] = _json("--opted-out", "YES", env=env)
        assert (opted_out["compliance"], opted_out["consent"]) == ("opt_in", "opted_in")


def test_the_plays_file_says_who_answers(tmp_path: Path) -> None:
    plays = (ROOT / "mappings" / "plays.yaml").read_text(encoding="utf-8")
    provider = tmp_path / "plays.yaml"
    provider.write_text(plays.replace("answered_by: smsync", "answered_by: provider"), "utf-8")
    [found] = _json("stop texting me", env={"SMSYNC_PLAYS": str(provider)})
    assert found["compliance"] == "opt_out"
    assert found["reply"] == {"sent_by": "provider", "text": None}


def test_bad_input_exits_2_with_a_clear_message_and_no_traceback(tmp_path: Path) -> None:
    empty = smsync("classify", "hello", "  ")
    assert empty.returncode == 2
    assert "text 2 is empty" in empty.stderr
    long = smsync("classify", "x" * 1601)
    assert long.returncode == 2
    assert "at most 1600" in long.stderr
    bad = tmp_path / "plays.yaml"
    bad.write_text(
        (ROOT / "tests" / "data" / "plays" / "bad_keywords.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    broken = smsync("classify", "STOP", env={"SMSYNC_PLAYS": str(bad)})
    assert broken.returncode == 2
    assert f"{bad}:7:16: policy.keywords.help_text: the HELP answer must say how to opt out" in (
        broken.stderr
    )
    for result in (empty, long, broken):
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
