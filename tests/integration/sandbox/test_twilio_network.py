"""The phone network: status progression on the sandbox clock, signed webhooks to a real
receiver, Advanced Opt-Out keywords, retries, duplicates and disorder."""

from __future__ import annotations

import time

import pytest
from twilio.request_validator import RequestValidator

from tests.integration.sandbox.twilio_fixtures import (
    MESSAGE_SCHEMA,
    OTHER,
    TO,
    Received,
    Twilio,
    assert_matches_spec,
    receiver,
    sandbox,
    tw,
)

__all__ = ["receiver", "sandbox", "tw"]

STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"


def _assert_signed(tw: Twilio, hooks: list[Received]) -> None:
    validator = RequestValidator(tw.creds.twilio_auth_token)
    assert hooks
    for hook in hooks:
        signature = hook.headers["X-Twilio-Signature"]
        assert validator.validate(hook.url, hook.params, signature), hook
        assert not validator.validate(hook.url, {**hook.params, "Body": "tampered"}, signature)


def _statuses(hooks: list[Received]) -> list[str]:
    return [h.params["MessageStatus"] for h in hooks]


def test_status_callbacks_follow_the_clock_in_order_and_are_signed(tw: Twilio) -> None:
    tw.freeze_clock()
    msg = tw.send(To=TO, Body="hello").json()

    assert tw.tick()["transitions"] == []
    assert tw.tick(0.2)["transitions"] == [{"sid": msg["sid"], "status": "sending"}]
    assert tw.tick(0.3)["transitions"] == [{"sid": msg["sid"], "status": "sent"}]
    assert tw.tick(1.0)["transitions"] == []
    assert tw.tick(0.5)["transitions"] == [{"sid": msg["sid"], "status": "delivered"}]

    hooks = tw.receiver.of(STATUS)
    assert _statuses(hooks) == ["sending", "sent", "delivered"]
    _assert_signed(tw, hooks)
    assert hooks[-1].params == {
        "MessageSid": msg["sid"],
        "SmsSid": msg["sid"],
        "AccountSid": tw.creds.twilio_account_sid,
        "From": tw.creds.twilio_from,
        "To": TO,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "ApiVersion": "2010-04-01",
    }
    fetched = tw.get(msg["uri"]).json()
    assert_matches_spec(MESSAGE_SCHEMA, fetched)
    assert fetched["status"] == "delivered"
    assert fetched["price"] == "-0.00790"
    assert fetched["date_updated"] == "Sun, 22 Nov 2026 19:06:28 +0000"


def test_a_service_send_goes_accepted_queued_sending_sent_delivered(tw: Twilio) -> None:
    tw.freeze_clock()
    service = tw.creds.twilio_messaging_service_sid
    msg = tw.http.post(
        tw.messages_url, data={"To": TO, "MessagingServiceSid": service, "Body": "x"}, timeout=10
    ).json()

    tw.tick(5)

    hooks = tw.receiver.of(STATUS)
    assert _statuses(hooks) == ["queued", "sending", "sent", "delivered"]
    assert {h.params["MessagingServiceSid"] for h in hooks} == {service}
    _assert_signed(tw, hooks)
    assert tw.get(msg["uri"]).json()["from"] == tw.creds.twilio_from


def test_status_callback_parameter_overrides_the_default_url(tw: Twilio) -> None:
    tw.freeze_clock()
    tw.send(To=TO, Body="x", StatusCallback=f"{tw.receiver.url}/custom/cb?tenant=7")

    tw.tick(5)

    hooks = tw.receiver.of("/custom/cb")
    assert _statuses(hooks) == ["sending", "sent", "delivered"]
    assert tw.receiver.of(STATUS) == []
    _assert_signed(tw, hooks)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        ("undelivered", 30003, ["sending", "sent", "undelivered"]),
        ("undelivered", 30005, ["sending", "sent", "undelivered"]),
        ("failed", 30006, ["sending", "failed"]),
    ],
)
def test_unreachable_numbers_end_with_their_error_code(
    tw: Twilio, status: str, code: int, expected: list[str]
) -> None:
    tw.freeze_clock()
    tw.admin(
        "POST",
        "/twilio/numbers",
        {"number": OTHER, "kind": "unreachable", "status": status, "error_code": code},
    )
    msg = tw.send(To=OTHER, Body="x").json()

    tw.tick(5)

    hooks = tw.receiver.of(STATUS)
    assert _statuses(hooks) == expected
    assert hooks[-1].params["ErrorCode"] == str(code)
    assert all("ErrorCode" not in h.params for h in hooks[:-1])
    fetched = tw.get(msg["uri"]).json()
    assert fetched["status"] == status
    assert fetched["error_code"] == code
    assert_matches_spec(MESSAGE_SCHEMA, fetched)


def test_configured_delays_are_used(tw: Twilio) -> None:
    tw.freeze_clock()
    tw.admin("POST", "/twilio/delays", {"sending": 1, "sent": 2, "delivered": 10})
    tw.send(To=TO, Body="x")

    assert tw.tick(0.5)["transitions"] == []
    assert [t["status"] for t in tw.tick(1.6)["transitions"]] == ["sending", "sent"]
    assert [t["status"] for t in tw.tick(8)["transitions"]] == ["delivered"]


def test_the_background_ticker_progresses_without_a_tick(tw: Twilio) -> None:
    tw.admin("POST", "/twilio/delays", {"sending": 0, "sent": 0.05, "delivered": 0.1})
    tw.send(To=TO, Body="x")

    deadline = time.monotonic() + 10
    while len(tw.receiver.of(STATUS)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert _statuses(tw.receiver.of(STATUS)) == ["sending", "sent", "delivered"]


def test_an_inbound_reply_is_a_signed_webhook_with_twilios_fields(tw: Twilio) -> None:
    result = tw.inbound(TO, "Sounds good, see you then")

    [hook] = tw.receiver.of(INBOUND)
    _assert_signed(tw, [hook])
    p = hook.params
    assert p["MessageSid"] == p["SmsMessageSid"] == p["SmsSid"] == result["sid"]
    assert p["From"] == TO
    assert p["To"] == tw.creds.twilio_from
    assert p["Body"] == "Sounds good, see you then"
    assert p["AccountSid"] == tw.creds.twilio_account_sid
    assert p["MessagingServiceSid"] == tw.creds.twilio_messaging_service_sid
    assert (p["NumMedia"], p["NumSegments"], p["SmsStatus"]) == ("0", "1", "received")
    assert p["ApiVersion"] == "2010-04-01"
    assert (p["FromCity"], p["FromState"], p["FromCountry"]) == ("SAN FRANCISCO", "CA", "US")
    assert {"FromZip", "ToCity", "ToState", "ToZip", "ToCountry"} <= set(p)
    assert "OptOutType" not in p
    assert hook.headers["I-Twilio-Idempotency-Token"]
    assert [d["status_code"] for d in result["deliveries"]] == [200]
    stored = tw.get(result["message"]["uri"]).json()
    assert_matches_spec(MESSAGE_SCHEMA, stored)
    assert (stored["direction"], stored["status"]) == ("inbound", "received")


@pytest.mark.parametrize("reply", ["STOP", "Stop.", " stop ", "UNSUBSCRIBE", "quit!", "OptOut"])
def test_a_stop_keyword_opts_out_until_start(tw: Twilio, reply: str) -> None:
    service = tw.creds.twilio_messaging_service_sid

    assert tw.inbound(TO, reply)["opt_out_type"] == "STOP"
    blocked = tw.send(To=TO, Body="x")
    via_service = tw.http.post(
        tw.messages_url, data={"To": TO, "MessagingServiceSid": service, "Body": "x"}, timeout=10
    )
    other = tw.send(To=OTHER, Body="x")

    assert tw.receiver.of(INBOUND)[0].params["OptOutType"] == "STOP"
    for refused in (blocked, via_service):
        assert refused.status_code == 400
        assert refused.json()["code"] == 21610
        assert refused.json()["message"] == "Attempt to send to unsubscribed recipient"
    assert other.status_code == 201
    assert tw.admin("GET", "/twilio/optouts")["optouts"] == [{"scope": service, "number": TO}]

    assert tw.inbound(TO, "start")["opt_out_type"] == "START"
    assert tw.receiver.of(INBOUND)[1].params["OptOutType"] == "START"
    assert tw.send(To=TO, Body="x").status_code == 201


def test_natural_language_is_not_a_keyword(tw: Twilio) -> None:
    result = tw.inbound(TO, "please stop texting me")

    assert result["opt_out_type"] is None
    assert "OptOutType" not in tw.receiver.of(INBOUND)[0].params
    assert tw.send(To=TO, Body="x").status_code == 201


def test_twilio_answers_its_own_keywords_and_only_those(tw: Twilio) -> None:
    """Twilio's default handling: the STOP confirmation, the HELP answer (not to a STOPped
    number) and the re-subscribe note when START lifts a block, none of them Messages."""
    tw.inbound(TO, "please stop texting me")  # Twilio neither blocks nor answers this
    tw.inbound(OTHER, "HELP")
    tw.inbound(TO, "STOP")
    tw.inbound(TO, "HELP")  # opted out: no answer
    tw.inbound(TO, "START")
    tw.inbound(OTHER, "YES")  # never opted out: nothing to lift, no answer

    replies = tw.admin("GET", "/twilio/keywords")["auto_replies"]
    assert [(r["to"], r["keyword"]) for r in replies] == [
        (OTHER, "HELP"),
        (TO, "STOP"),
        (TO, "START"),
    ]
    assert "You will not receive any more messages" in replies[1]["body"]
    listed = tw.http.get(tw.messages_url, params={"To": TO}, timeout=10).json()
    assert listed["messages"] == []


def test_with_builtin_handling_off_twilio_neither_blocks_flags_nor_answers(tw: Twilio) -> None:
    assert tw.admin("POST", "/twilio/keywords", {"builtin": False})["builtin"] is False
    result = tw.inbound(TO, "STOP")

    assert result["opt_out_type"] is None
    assert "OptOutType" not in tw.receiver.of(INBOUND)[0].params
    assert tw.send(To=TO, Body="You're unsubscribed.").status_code == 201
    assert tw.admin("GET", "/twilio/keywords")["auto_replies"] == []
    tw.admin("POST", "/reset")
    assert tw.admin("GET", "/twilio/keywords")["builtin"] is True  # a reset restores it


def test_help_is_flagged_but_does_not_block(tw: Twilio) -> None:
    assert tw.inbound(TO, "Help?")["opt_out_type"] == "HELP"
    assert tw.receiver.of(INBOUND)[0].params["OptOutType"] == "HELP"
    assert tw.send(To=TO, Body="x").status_code == 201


def test_duplicates_knob_delivers_every_webhook_n_times(tw: Twilio) -> None:
    tw.freeze_clock()
    tw.admin("POST", "/twilio/network", {"duplicates": 3})

    tw.inbound(TO, "hi")
    tw.send(To=TO, Body="x")
    tw.tick(5)

    inbound = tw.receiver.of(INBOUND)
    assert len(inbound) == 3
    assert len({h.headers["I-Twilio-Idempotency-Token"] for h in inbound}) == 1
    assert _statuses(tw.receiver.of(STATUS)) == [
        s for s in ["sending", "sent", "delivered"] for _ in range(3)
    ]
    _assert_signed(tw, tw.receiver.requests)


def test_out_of_order_knob_holds_callbacks_and_sends_them_reversed(tw: Twilio) -> None:
    tw.freeze_clock()
    tw.admin("POST", "/twilio/network", {"out_of_order": "reverse"})
    tw.send(To=TO, Body="x")

    assert tw.tick(0.6)["held"] == 2
    assert tw.receiver.of(STATUS) == []
    tw.tick(5)

    assert _statuses(tw.receiver.of(STATUS)) == ["delivered", "sent", "sending"]
    _assert_signed(tw, tw.receiver.of(STATUS))


def test_shuffled_callbacks_are_all_delivered_and_flush_releases_held_ones(tw: Twilio) -> None:
    tw.freeze_clock()
    tw.admin("POST", "/twilio/network", {"out_of_order": "shuffle", "shuffle_seed": 3})
    tw.send(To=TO, Body="x")
    tw.tick(0.6)

    assert tw.admin("POST", "/twilio/flush")["released"] == 2
    tw.tick(5)

    assert sorted(_statuses(tw.receiver.of(STATUS))) == ["delivered", "sending", "sent"]


def test_a_failed_webhook_is_retried_once(tw: Twilio) -> None:
    tw.receiver.answer(500, 500, 500)

    result = tw.inbound(TO, "hi")

    assert [(d["attempt"], d["status_code"]) for d in result["deliveries"]] == [(1, 500), (2, 500)]
    assert len(tw.receiver.of(INBOUND)) == 2


def test_a_retry_that_succeeds_stops_there(tw: Twilio) -> None:
    tw.receiver.answer(503)

    result = tw.inbound(TO, "hi")

    assert [(d["attempt"], d["status_code"]) for d in result["deliveries"]] == [(1, 503), (2, 200)]


def test_an_unreachable_receiver_is_logged(tw: Twilio) -> None:
    tw.admin("POST", "/twilio/webhook", {"base_url": "http://127.0.0.1:9"})

    tw.inbound(TO, "hi")
    log = tw.admin("GET", "/twilio/deliveries?kind=inbound")

    assert log["count"] == 2
    assert all(d["status_code"] is None and d["error"] for d in log["deliveries"])
    assert log["deliveries"][0]["url"] == "http://127.0.0.1:9/webhooks/twilio/inbound"


def test_the_webhook_base_url_can_be_read_and_changed(tw: Twilio) -> None:
    assert tw.admin("GET", "/twilio/webhook") == {"base_url": tw.receiver.url}
    changed = tw.admin("POST", "/twilio/webhook", {"base_url": "http://127.0.0.1:1/"})

    assert changed == {"base_url": "http://127.0.0.1:1"}


def test_reset_clears_opt_outs_knobs_and_deliveries(tw: Twilio) -> None:
    tw.inbound(TO, "STOP")
    tw.admin("POST", "/twilio/network", {"duplicates": 2})

    tw.admin("POST", "/reset", {"what": ["data"]})

    assert tw.admin("GET", "/twilio/optouts") == {"optouts": []}
    assert tw.admin("GET", "/twilio/network")["duplicates"] == 1
    assert tw.admin("GET", "/twilio/deliveries")["count"] == 0
    assert tw.send(To=TO, Body="x").status_code == 201
