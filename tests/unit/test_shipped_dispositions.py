"""The shipped mappings read ordinary replies as a rep would: a refusal that says the
interest word is not interest, "who is this?" is a person to answer (not a wrong number),
and the common Spanish replies get the same dispositions as their English twins."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config.mapping_loader import load_mapping
from connector.domain.dispositions import classify
from connector.engine.reply_policy import ReplyPolicy

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("not interested", "not_now"),
    ("I'm not interested, thanks", "not_now"),
    ("No thanks", "not_now"),
    ("no me interesa", "not_now"),
    ("Ahora no, más tarde", "not_now"),
    ("Who is this?", "unclassified"),  # a lead who forgot us: a person reads it
    ("Wrong number, who is this?", "wrong_number"),
    ("número equivocado", "wrong_number"),
    ("¿Cuánto cuesta?", "pricing_question"),
    ("cual es el precio", "pricing_question"),
    ("Me interesa, llámame", "interested"),
    ("yes I'm interested, call me", "interested"),
    ("Sí", "confirmed"),
    ("nos vemos el jueves", "confirmed"),
    ("podemos reprogramar?", "reschedule_requested"),
    ("how much is it", "pricing_question"),
    ("can we do thursday instead? thx", "reschedule_requested"),
    ("friday instead?", "reschedule_requested"),
]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
@pytest.mark.parametrize(("text", "expected"), CASES)
def test_ordinary_replies(crm: str, text: str, expected: str) -> None:
    rules = ReplyPolicy.from_mapping(load_mapping(ROOT / "mappings" / f"{crm}.yaml")).rules
    assert classify(text, rules).name == expected
