"""Twilio's error codes, classified by the one table."""

from __future__ import annotations

import pytest

from connector.errors import AuthError, RateLimitedError, RecordError, RetriableError
from connector.sms.twilio.errors import (
    InvalidNumberError,
    ProviderOptOutError,
    TwilioFailure,
    TwilioRecordError,
    TwilioServerError,
    action_for,
    to_exception,
)
from connector.vendor_errors import Action


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (400, 21610, Action.OPT_OUT),
        (400, 21211, Action.INVALID_NUMBER),
        (400, 21614, Action.INVALID_NUMBER),
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


def test_21610_is_a_provider_opt_out_record_error() -> None:
    body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
    exc = to_exception(TwilioFailure.parse(400, body), to="+14155552671")
    assert isinstance(exc, ProviderOptOutError)
    assert isinstance(exc, RecordError)
    assert exc.code == "21610"
    assert exc.to == "+14155552671"
    assert "+14155552671" not in str(exc)  # masked in the message


@pytest.mark.parametrize("code", [21211, 21614])
def test_invalid_numbers_are_permanent(code: int) -> None:
    exc = to_exception(TwilioFailure.parse(400, {"code": code, "message": "bad"}))
    assert isinstance(exc, InvalidNumberError)
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
    assert other.code == "21617"
