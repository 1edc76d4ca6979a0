"""TwilioSms against the Twilio emulator over real HTTP: sends, the error table, safe
retries, and an ambiguous send that is reconciled rather than re-POSTed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connector.domain.model import Direction, MessageStatus
from connector.errors import (
    AmbiguousSendError,
    RateLimitedError,
    RecipientOptedOutError,
    RetriableError,
    SmsFailure,
    UndeliverableNumberError,
)
from connector.ports import OutboundSms
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultSpec, ServerErrors, Storm
from connector.sandbox.server import Sandbox
from connector.sandbox.twilio.emulator import TwilioEmulator
from connector.sms.twilio.client import TwilioSms

TO = "+14155552671"
PUBLIC = "https://sms.example.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # webhooks go to the discard port: these tests look at the REST side only
    with Sandbox(vendors=("twilio",), webhook_base_url="http://127.0.0.1:9") as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    requests.post(
        f"{sandbox.urls['admin']}/__sandbox/reset", json={}, timeout=10
    ).raise_for_status()
    return sandbox


def emulator(sb: Sandbox) -> TwilioEmulator:
    emu = sb.emulators["twilio"]
    assert isinstance(emu, TwilioEmulator)
    return emu


def messages_to(sb: Sandbox, to: str) -> list[dict[str, Any]]:
    return emulator(sb).find("Messages", "to", to)


def creates(sb: Sandbox) -> int:
    calls = sb.state.stats.snapshot()["twilio"]["calls_by_endpoint"]
    return sum(
        n for key, n in calls.items() if key.startswith("POST ") and key.endswith("Messages.json")
    )


def client(sb: Sandbox, **kwargs: Any) -> TwilioSms:
    c = sb.credentials
    defaults: dict[str, Any] = {
        "account_sid": c.twilio_account_sid,
        "auth_token": c.twilio_auth_token,
        "base_url": sb.urls["twilio"],
        "from_": c.twilio_from,
        "public_base_url": PUBLIC,
        "timeout": (2.0, 2.0),
        "policy": RetryPolicy(attempts=4, max_total_s=10, base_s=0.01, max_wait_s=0.05),
    }
    return TwilioSms(**(defaults | kwargs))


def sms(body: str = "Your appointment is at 3pm", key: str = "out:1", to: str = TO) -> OutboundSms:
    return OutboundSms(to=to, body=body, idempotency_key=key)


def test_a_send_uses_from_and_a_status_callback_carrying_the_key(sb: Sandbox) -> None:
    message = client(sb).send(sms(key="out:7"))
    assert message.sid.startswith("SM")
    assert message.direction is Direction.OUTBOUND
    assert message.status is MessageStatus.QUEUED
    stored = emulator(sb).store.by_sid[message.sid]
    assert stored.from_ == sb.credentials.twilio_from
    assert stored.status_callback == f"{PUBLIC}/webhooks/twilio/status?k=out%3A7"
    assert creates(sb) == 1


def test_a_send_through_the_messaging_service(sb: Sandbox) -> None:
    service = sb.credentials.twilio_messaging_service_sid
    message = client(sb, from_=None, messaging_service_sid=service).send(sms())
    assert message.status is MessageStatus.ACCEPTED
    assert emulator(sb).store.by_sid[message.sid].messaging_service_sid == service


def test_the_settings_build_the_client(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.config import load_settings

    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    sent = TwilioSms.from_settings(load_settings()).send(sms())
    assert messages_to(sb, TO)[0]["sid"] == sent.sid


def test_21610_is_a_provider_opt_out_and_never_retried(sb: Sandbox) -> None:
    admin = f"{sb.urls['admin']}/__sandbox/twilio/inbound"
    requests.post(admin, json={"from": TO, "body": "STOP"}, timeout=10).raise_for_status()
    with pytest.raises(RecipientOptedOutError) as caught:
        client(sb).send(sms())
    assert caught.value.code == "21610"
    assert caught.value.to == TO
    assert creates(sb) == 1


@pytest.mark.parametrize(
    ("to", "code", "failure"),
    [
        ("+15551234", "21211", SmsFailure.INVALID_NUMBER),
        ("+14155550100", "21614", SmsFailure.LANDLINE),
    ],
)
def test_invalid_and_landline_numbers_are_permanent(
    sb: Sandbox, to: str, code: str, failure: SmsFailure
) -> None:
    emulator(sb).numbers.register("+14155550100", "landline")
    with pytest.raises(UndeliverableNumberError) as caught:
        client(sb).send(sms(to=to))
    assert caught.value.code == code
    assert caught.value.failure is failure
    assert creates(sb) == 1  # never retried


def test_a_429_storm_is_retried_then_the_send_goes_once(sb: Sandbox) -> None:
    sb.state.faults.set("twilio", FaultSpec(throttle=Storm(count=2, retry_after=0)))
    message = client(sb).send(sms())
    assert [m["sid"] for m in messages_to(sb, TO)] == [message.sid]
    assert creates(sb) == 3


def test_5xx_is_retried_a_bounded_number_of_times(sb: Sandbox) -> None:
    sb.state.faults.set("twilio", FaultSpec(server_errors=ServerErrors(count=2, status=503)))
    assert client(sb).send(sms()).sid
    assert creates(sb) == 3
    sb.state.faults.set("twilio", FaultSpec(server_errors=ServerErrors(count=10, status=500)))
    with pytest.raises(RetriableError):
        client(sb).send(sms())
    assert creates(sb) == 3 + 4
    assert len(messages_to(sb, TO)) == 1


def test_retry_after_on_a_persistent_storm_surfaces_as_rate_limited(sb: Sandbox) -> None:
    sb.state.faults.set("twilio", FaultSpec(throttle=Storm(count=10, retry_after=0)))
    with pytest.raises(RateLimitedError):
        client(sb).send(sms())
    assert messages_to(sb, TO) == []


def test_accepted_then_reset_is_reconciled_and_never_sent_twice(sb: Sandbox) -> None:
    """Acceptance 4: the sandbox commits the message, then resets the connection."""
    sb.state.faults.set("twilio", FaultSpec(drop_after_commit=1))
    earlier = client(sb).send(sms(body="An earlier, different text", key="out:0"))
    sb.state.faults.set("twilio", FaultSpec(drop_after_commit=1))
    message = client(sb).send(sms(key="out:1"))
    found = messages_to(sb, TO)
    assert len(found) == 2
    assert {m["sid"] for m in found} == {earlier.sid, message.sid}
    assert emulator(sb).store.by_sid[message.sid].body == "Your appointment is at 3pm"
    assert creates(sb) == 2  # one POST per send: the retry path sent nothing more
    assert sb.state.stats.snapshot()["twilio"]["faults_injected"] == {"drop_after_commit": 2}


def test_a_reset_before_any_effect_stays_ambiguous_without_a_second_post(sb: Sandbox) -> None:
    sb.state.faults.set("twilio", FaultSpec(resets=1))
    twilio = client(sb)
    with pytest.raises(AmbiguousSendError):
        twilio.send(sms())
    assert creates(sb) == 1
    assert messages_to(sb, TO) == []
    # the outbox's later pass: reconcile first, nothing found, so now it may send
    since = datetime.now(UTC) - timedelta(minutes=10)
    assert twilio.find_send(sms(), since) is None
    assert twilio.send(sms()).sid == messages_to(sb, TO)[0]["sid"]


def test_a_provider_slower_than_the_timeouts_is_ambiguous_within_them(sb: Sandbox) -> None:
    """Every call has a timeout: a Twilio that answers after 1.5 s, against read timeouts
    of 0.3 s, makes the send ambiguous (one POST, the listing tried a bounded number of
    times) in about the timeouts' sum, never the provider's pace."""
    import time

    sb.state.faults.set("twilio", FaultSpec(latency_ms=1500))
    twilio = client(sb, timeout=(2.0, 0.3))
    started = time.monotonic()
    with pytest.raises(AmbiguousSendError):
        twilio.send(sms())
    took = time.monotonic() - started
    sb.state.faults.clear("twilio")
    assert took < 1.5 + 1.0  # 0.3 s for the POST, 4 x 0.3 s for the listing, back-offs
    assert creates(sb) == 1


def test_reconcile_skips_sids_known_to_be_other_sends(sb: Sandbox) -> None:
    twilio = client(sb)
    first = twilio.send(sms())
    second = twilio.send(sms())
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert [m.sid for m in twilio.find_sent(TO, since)] == [first.sid, second.sid]
    found = twilio.find_send(sms(), since, exclude_sids={first.sid})
    assert found is not None
    assert found.sid == second.sid
    assert twilio.find_send(sms(body="never sent"), since) is None


def test_find_sent_pages_through_the_list(sb: Sandbox) -> None:
    twilio = client(sb)
    sent = [twilio.send(sms(body=f"n{i}")).sid for i in range(5)]
    pages = list(twilio.list_messages(to=TO, page_size=2))
    assert [r["sid"] for r in pages] == sent[::-1]
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert [m.sid for m in twilio.find_sent(TO, since)] == sent
    assert twilio.find_sent(TO, datetime.now(UTC) + timedelta(minutes=1)) == []
