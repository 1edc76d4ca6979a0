"""Twilio's webhook parameters, checked and turned into inbox items.

The events are the port's (`connector/ports.py`: `InboundSms`, `StatusUpdate`), so the
inbox payload is canonical (lower-case keys the engine reads without knowing Twilio), with
Twilio's raw parameters kept beside it under `raw`, since Twilio may add parameters at any
time. A status's ErrorCode is kept as data and read once, here, into its `SmsFailure`.
The same shapes come from the reconciliation listing (`TwilioSms.reconcile`), so the
engine cannot tell a polled message from a webhook except by `source`.

Provider ids, the inbox's unique key: the MessageSid for an inbound message, and
MessageSid + ":" + status for a status callback (each status of a message is one event).

Every field is held to what Twilio documents before anything is stored, so that a signed
but odd request (a leaked token, a proxy that mangles bodies, a fuzzer) is a 400 naming
the field, never a database error:

    MessageSid            SM or MM + 32 hex                 (required)
    AccountSid            AC + 32 hex                       (when sent)
    MessagingServiceSid   MG + 32 hex                       (when sent)
    From, To              1-64 printable characters: E.164, a short code, an alphanumeric
                          sender or a channel address such as whatsapp:+14155550123
    Body                  at most 1,600 characters (Twilio's limit, also for an inbound
                          text reassembled from segments)
    NumMedia              0-10 (Twilio's limit on media in one message)
    NumSegments           1-24 (a 1,600-character body is at most 24 segments of 67
                          UCS-2 characters)
    ErrorCode             10000-99999 (Twilio's error codes have five digits)
    any other parameter   at most 2,048 characters (a MediaUrl is about 150); at most
                          100 parameters; names at most 64 characters

A NUL character anywhere is refused (400), not stripped: Twilio never sends one, and
a text changed on its way in would no longer be what the contact wrote."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from connector.domain.model import MAX_SMS_CHARS, MessageStatus
from connector.errors import RecordError
from connector.ports import InboundSms, StatusUpdate
from connector.sms.twilio.errors import failure_of

SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")
MAX_PARAMS = 100
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 2048
MAX_ADDRESS_CHARS = 64
MAX_KEY_CHARS = 191  # the idempotency key our StatusCallback URL carries (?k=)
RANGES: dict[str, tuple[int, int]] = {
    "NumMedia": (0, 10),
    "NumSegments": (1, 24),
    "ErrorCode": (10_000, 99_999),
}


class MalformedWebhookError(RecordError):
    """A signed request that is not what Twilio sends: answered 400, stored nowhere."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="400")


def check_params(params: Mapping[str, str]) -> None:
    """The limits every parameter is held to, whatever the endpoint (see the module doc).

    Messages name the field and the rule, never the value (it may be a phone number or
    the contact's text)."""
    if len(params) > MAX_PARAMS:
        raise MalformedWebhookError(f"{len(params)} parameters; Twilio sends at most {MAX_PARAMS}")
    for name, value in params.items():
        if len(name) > MAX_NAME_CHARS or "\x00" in name:
            raise MalformedWebhookError("a parameter name is not one Twilio sends")
        if "\x00" in value:
            raise MalformedWebhookError(f"{name} contains a NUL character")
        limit = MAX_SMS_CHARS if name == "Body" else MAX_VALUE_CHARS
        if len(value) > limit:
            raise MalformedWebhookError(
                f"{name} is {len(value):,} characters; Twilio sends at most {limit:,}"
            )
    for name, pattern, shape in (
        ("AccountSid", ACCOUNT_SID, "AC + 32 hex digits"),
        ("MessagingServiceSid", SERVICE_SID, "MG + 32 hex digits"),
    ):
        sid = params.get(name)
        if sid and not pattern.match(sid):
            raise MalformedWebhookError(f"{name} is not a Twilio sid ({shape})")
    for name in ("From", "To"):
        address = params.get(name)
        if address and (len(address) > MAX_ADDRESS_CHARS or not _PRINTABLE.match(address)):
            raise MalformedWebhookError(
                f"{name} is not a phone number or channel address (at most "
                f"{MAX_ADDRESS_CHARS} printable characters)"
            )
    for name in RANGES:
        _int(params.get(name), name)


def check_key(key: str | None) -> str | None:
    """The idempotency key from the status URL's query: ours, so short and printable."""
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS or not _PRINTABLE.match(key):
        raise MalformedWebhookError(
            f"the k query parameter is not an idempotency key (at most {MAX_KEY_CHARS} "
            "printable characters)"
        )
    return key


def _require(params: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise MalformedWebhookError(f"missing parameter(s): {', '.join(missing)}")
    check_params(params)
    if not SID.match(params["MessageSid"]):
        raise MalformedWebhookError("MessageSid is not a Twilio message sid (SM or MM + 32 hex)")


def _int(value: str | None, name: str) -> int | None:
    """A documented integer parameter, within its documented range."""
    if value is None or value == "":
        return None
    low, high = RANGES[name]
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(high)):
        raise MalformedWebhookError(f"{name} is not an integer from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise MalformedWebhookError(f"{name} is not an integer from {low} to {high}")
    return number


# The port's event types, under the names the webhook intake knows them by.
InboundEvent = InboundSms
StatusEvent = StatusUpdate


def parse_inbound(params: Mapping[str, str], at: datetime) -> InboundSms:
    """An inbound message; MalformedWebhookError when Twilio's fixed fields are missing."""
    _require(params, "MessageSid", "From", "To")
    return InboundSms(
        sid=params["MessageSid"],
        from_=params["From"],
        to=params["To"],
        body=params.get("Body", ""),
        at=at,
        opt_out_type=params.get("OptOutType") or None,
        messaging_service_sid=params.get("MessagingServiceSid") or None,
        num_media=_int(params.get("NumMedia"), "NumMedia") or 0,
        num_segments=_int(params.get("NumSegments"), "NumSegments") or 1,
        raw=dict(params),
    )


def parse_status(
    params: Mapping[str, str], at: datetime, *, idempotency_key: str | None = None
) -> StatusUpdate:
    """A status callback; MalformedWebhookError when its sid or status is missing or unknown.

    `idempotency_key` comes from the callback URL's query (see `client.status_callback`)."""
    _require(params, "MessageSid", "MessageStatus")
    try:
        status = MessageStatus(params["MessageStatus"].strip().lower())
    except ValueError:
        raise MalformedWebhookError("MessageStatus is not a Twilio status") from None
    code = _int(params.get("ErrorCode"), "ErrorCode")
    return StatusUpdate(
        sid=params["MessageSid"],
        status=status,
        error_code=code,
        failure=failure_of(code),
        at=at,
        raw=dict(params),
        idempotency_key=check_key(idempotency_key),
    )
