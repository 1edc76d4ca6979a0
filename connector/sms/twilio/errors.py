"""Twilio's answers classified in one table: error code (else HTTP status) -> action (the
actions of `connector/vendor_errors.py`), turned into the port's errors
(`connector/errors.py`). The same table says what a failed delivery's code means
(`failure_of`), so a status callback reaches the engine as an `SmsFailure`, never as a
Twilio code to compare.

    SmsyncError
    ├── RetriableError
    │   ├── RateLimitedError         20429 / HTTP 429: back off, honour Retry-After
    │   ├── TwilioServerError        5xx: back off and retry
    │   └── AmbiguousSendError       the POST may have reached Twilio: reconcile, never re-POST
    ├── FatalError
    │   └── AuthError                20003 / 401: credentials wrong or revoked
    └── RecordError
        └── SmsRefusedError
            ├── TwilioRecordError         any other 4xx: this message failed, ledger it
            ├── RecipientOptedOutError    21610: the recipient texted STOP; consent ledger
            └── UndeliverableNumberError  21211, 30003, 30005 (invalid), 21614, 30006
                                          (landline): permanent, never retried

Messages carry the code and Twilio's text, never the phone number in full."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import (
    AuthError,
    RateLimitedError,
    RecipientOptedOutError,
    RetriableError,
    SmsFailure,
    SmsRefusedError,
    SmsyncError,
    UndeliverableNumberError,
)
from connector.logs import mask_phone, scrub_text
from connector.vendor_errors import Action, ErrorRule, first_match

# The one table: codes first; the HTTP status decides only when the code is not listed.
# The 3xxxx codes come with a failed delivery (a status callback), not with a POST.
TABLE: tuple[ErrorRule, ...] = (
    ErrorRule(Action.OPT_OUT, code="21610"),  # attempt to send to an unsubscribed recipient
    ErrorRule(Action.INVALID_NUMBER, code="21211"),  # invalid 'To' number
    ErrorRule(Action.LANDLINE, code="21614"),  # 'To' is not a mobile number
    ErrorRule(Action.INVALID_NUMBER, code="30003"),  # unreachable destination handset
    ErrorRule(Action.INVALID_NUMBER, code="30005"),  # unknown destination handset
    ErrorRule(Action.LANDLINE, code="30006"),  # landline or unreachable carrier
    ErrorRule(Action.RATE_LIMITED, code="20429"),  # too many requests
    ErrorRule(Action.AUTH, code="20003"),  # authenticate
    ErrorRule(Action.RETRY, code="20500"),  # internal server error
    ErrorRule(Action.RETRY, code="20503"),  # service unavailable
    ErrorRule(Action.AUTH, 401),
    ErrorRule(Action.AUTH, 403),
    ErrorRule(Action.RATE_LIMITED, 429),
    ErrorRule(Action.RETRY, 500, status_to=599),
)
_FAILURES = {
    Action.OPT_OUT: SmsFailure.OPTED_OUT,
    Action.INVALID_NUMBER: SmsFailure.INVALID_NUMBER,
    Action.LANDLINE: SmsFailure.LANDLINE,
}


def action_for(status: int | None, code: int | None) -> Action:
    """The table's action for an answer; any other refusal fails this message alone."""
    rule = first_match(TABLE, status, (str(code),) if code is not None else ())
    return rule.action if rule is not None else Action.RECORD


def failure_of(code: int | None) -> SmsFailure | None:
    """What a failed delivery's ErrorCode means to the engine; None when there is none."""
    if code is None:
        return None
    return _FAILURES.get(action_for(None, code), SmsFailure.OTHER)


class TwilioServerError(RetriableError):
    """Twilio answered 5xx: the message was not created; safe to POST again."""


class TwilioRecordError(SmsRefusedError):
    """This message was refused for a reason of its own; other messages are unaffected."""

    def __init__(self, message: str, *, code: str, to: str = "", status: int = 400) -> None:
        super().__init__(message, code=code, to=to)
        self.status = status


@dataclass(frozen=True, slots=True)
class TwilioFailure:
    """What Twilio said, parsed from `{code, message, more_info, status}`."""

    status: int
    code: int | None
    message: str

    @classmethod
    def parse(cls, status: int, body: Any) -> TwilioFailure:
        code: int | None = None
        message = ""
        if isinstance(body, Mapping):
            raw = body.get("code")
            if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
                code = int(raw)
            message = str(body.get("message") or "")
        return cls(status=status, code=code, message=scrub_text(message)[:300])


def to_exception(
    failure: TwilioFailure, *, to: str = "", retry_after: float | None = None
) -> SmsyncError:
    """The exception for a non-2xx answer, per the table."""
    action = action_for(failure.status, failure.code)
    code = str(failure.code) if failure.code is not None else f"http_{failure.status}"
    where = f" (to {mask_phone(to)})" if to else ""
    text = f"Twilio {failure.status} {code}: {failure.message or 'no message'}{where}"
    if action is Action.RATE_LIMITED:
        return RateLimitedError(text, retry_after=retry_after)
    if action is Action.RETRY:
        return TwilioServerError(text, retry_after=retry_after)
    if action is Action.AUTH:
        return AuthError(
            f"{text}; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or its _FILE variant)"
        )
    if action is Action.OPT_OUT:
        return RecipientOptedOutError(text, code=code, to=to)
    if action in (Action.INVALID_NUMBER, Action.LANDLINE):
        return UndeliverableNumberError(text, code=code, to=to, failure=_FAILURES[action])
    return TwilioRecordError(text, code=code, to=to, status=failure.status)
