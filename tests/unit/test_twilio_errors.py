"""Twilio's error codes, classified by the one table."""

from __future__ import annotations

import pytest

from connector.errors import (
    AuthError,
    RateLimitedError,
    RecipientOptedOutError,
    RecordError,
    RetriableError,
    SmsFailure,
    SmsRefusedError,
    UndeliverableNumberError,
)
from connector.sms.twilio.errors import (
    TwilioFailure,
    TwilioRecordError,
    TwilioServerError,
    action_for,
    failure_of,
    to_exception,
)
from connector.vendor_errors import Action


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (400, 21610, Action.OPT_OUT),
        (400, 21211, Action.INVALID_NUMBER),
        (400, 21614, Action.LANDLINE),
        (429, 20429, Action.RATE_LIMITED),
        (429, None, Action.RATE_LIMITED),
        (503, None, Action.RETRY),
        (500, 20500, Action.RETRY),
        (401, 20003, Action.AUTH),
        (400, 21602, Action.RECORD),
        (404, 20404, Action.RECORD),
    ],
)
def test_the_table(status: int, code: int | None, action: Action) -> None:
    assert action_for(status, code) is action


def test_21610_is_the_ports_opted_out_record_error() -> None:
    body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
    exc = to_exception(TwilioFailure.parse(400, body), to="+14155552671")
    assert isinstance(exc, RecipientOptedOutError)
    assert isinstance(exc, RecordError)
    assert exc.failure is SmsFailure.OPTED_OUT
    assert exc.code == "21610"
    assert exc.to == "+14155552671"
    assert "+14155552671" not in str(exc)  # masked in the message


@pytest.mark.parametrize(
    ("code", "failure"), [(21211, SmsFailure.INVALID_NUMBER), (21614, SmsFailure.LANDLINE)]
)
def test_invalid_numbers_are_permanent(code: int, failure: SmsFailure) -> None:
    exc = to_exception(TwilioFailure.parse(400, {"code": code, "message": "bad"}))
    assert isinstance(exc, UndeliverableNumberError)
    assert exc.failure is failure
    assert exc.code == str(code)  # the vendor's own code, kept as data
    assert not isinstance(exc, RetriableError)


def test_rate_limits_and_server_errors_are_retriable() -> None:
    limited = to_exception(TwilioFailure.parse(429, {"code": 20429}), retry_after=2.0)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 2.0
    assert isinstance(to_exception(TwilioFailure.parse(502, None)), TwilioServerError)


def test_auth_and_other_refusals() -> None:
    assert isinstance(to_exception(TwilioFailure.parse(401, {"code": 20003})), AuthError)
    other = to_exception(TwilioFailure.parse(400, {"code": "21617", "message": "too long"}))
    assert type(other) is TwilioRecordError
    assert isinstance(other, SmsRefusedError)
    assert other.failure is SmsFailure.OTHER
    assert other.code == "21617"


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (None, None),
        (21610, SmsFailure.OPTED_OUT),
        (21211, SmsFailure.INVALID_NUMBER),
        (30003, SmsFailure.INVALID_NUMBER),
        (30005, SmsFailure.INVALID_NUMBER),
        (21614, SmsFailure.LANDLINE),
        (30006, SmsFailure.LANDLINE),
        (30007, SmsFailure.OTHER),  # carrier filtering: this text, not the number
        (20429, SmsFailure.OTHER),
    ],
)
def test_a_delivery_failure_code_means_one_port_failure(
    code: int | None, failure: SmsFailure | None
) -> None:
    assert failure_of(code) is failure


def test_only_dead_number_failures_say_so() -> None:
    assert {f for f in SmsFailure if f.number_dead} == {
        SmsFailure.INVALID_NUMBER,
        SmsFailure.LANDLINE,
    }
    with pytest.raises(ValueError, match="does not say the number is dead"):
        UndeliverableNumberError("x", code="1", failure=SmsFailure.OTHER)
