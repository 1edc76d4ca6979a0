"""Secrets and phone numbers never reach a log line (docs/reliability.md, Security)."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from connector import logs


def test_token_and_phone_are_redacted_in_captured_events() -> None:
    log = structlog.get_logger("t")
    with capture_logs(processors=[logs.redact]) as events:
        log.info(
            "reply from +14155550123 handled",
            access_token="00Dxx0000001gPL!AR8AQJXg5",
            to="(415) 555-0123",
            headers={"Authorization": "Bearer abcdefghijklmnop", "Accept": "json"},
            attempts=3,
        )
    [event] = events
    assert event["event"] == "reply from +1415***0123 handled"
    assert event["access_token"] == logs.MASK
    assert event["to"] == "4155***0123"
    assert event["headers"] == {"Authorization": logs.MASK, "Accept": "json"}
    assert event["attempts"] == 3
    flat = json.dumps(event)
    assert "5550123" not in flat
    assert "AR8AQJXg5" not in flat


def test_registered_secret_is_masked_wherever_it_appears() -> None:
    logs.register_secret("s3cr3t-value-123")
    with capture_logs(processors=[logs.redact]) as events:
        structlog.get_logger().warning("login failed", detail="password s3cr3t-value-123 wrong")
    assert events[0]["detail"] == f"password {logs.MASK} wrong"


def test_exception_messages_are_scrubbed() -> None:
    with capture_logs(processors=[logs.redact]) as events:
        structlog.get_logger().error("send failed", error=ValueError("bad To +14155550199"))
    assert events[0]["error"] == "ValueError: bad To +1415***0199"


def test_json_renderer_off_a_tty_emits_redacted_json() -> None:
    out = io.StringIO()
    logs.configure("info", "auto", stream=out)  # StringIO is not a TTY: JSON
    try:
        structlog.get_logger("x").info("sent", phone="+12125550100", client_secret="abc123")
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue().strip())
    assert line["phone"] == "+1212***0100"
    assert line["client_secret"] == logs.MASK
    assert line["level"] == "info"


@given(st.from_regex(r"\+1[2-9]\d{2}[2-9]\d{6}", fullmatch=True))
def test_any_e164_number_is_masked(number: str) -> None:
    assert number not in logs.scrub_text(f"texting {number} now")
    assert logs.mask_phone(number).endswith(number[-4:])


@pytest.mark.parametrize(
    "text",
    [
        "consent:crm@1796211056:Lead/00Q000000000001",  # an id with an epoch inside
        "at 1796211056 seconds",  # an epoch alone
        "sid SM0123456789abcdef0123456789abcdef",
        "row 4155550123",  # a bare digit run is not a number by shape
        "2026-03-03T17:00:00+00:00",
        "version 12.345.6789",  # area code 012 is not a NANP area code
    ],
)
def test_digit_runs_that_are_not_phone_numbers_are_left_alone(text: str) -> None:
    """Ids in logs must match the database: only phone numbers are masked."""
    assert logs.scrub_text(text) == text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("from whatsapp:+14155550123 now", "4155550123"),
        ("call +44 20 7946 0958 today", "7946 0958"),
        ("call +1 (415) 555-0123", "555-0123"),
        ("call 1-415-555-0123", "555-0123"),
        ("call 415.555.0123", "555.0123"),
        ("call (415) 555-0123", "555-0123"),
    ],
)
def test_phone_numbers_in_any_usual_spelling_are_masked(text: str, hidden: str) -> None:
    scrubbed = logs.scrub_text(text)
    assert hidden not in scrubbed
    assert logs.MASK in scrubbed


def test_a_field_named_for_a_phone_is_masked_whatever_its_shape() -> None:
    with capture_logs(processors=[logs.redact]) as events:
        structlog.get_logger().info("x", phone="4155550123", to="whatsapp:+14155550123", n=4)
    [event] = events
    assert event["phone"] == "4155***0123"
    assert event["to"] == "1415***0123"
    assert event["n"] == 4
