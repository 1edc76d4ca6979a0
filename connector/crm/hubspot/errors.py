"""HubSpot's answers, classified in one table by what the adapter should do (the actions
of `connector/vendor_errors.py`).

    status / code                      action
    429 + policyName DAILY             QUOTA         stop writing: the day's calls are spent
    429 (any other policy)             RATE_LIMITED  wait (Retry-After, else the window), retry
    401 EXPIRED_AUTHENTICATION         REFRESH_AUTH  refresh the OAuth token once, then retry
    401 / 403 (anything else)          AUTH          credentials wrong or revoked: stop
    403 MISSING_SCOPES                 CONFIG        the app lacks a scope: fix the config
    409 (whole request)                SPLIT         split the batch and retry the halves
    400 VALIDATION_ERROR (whole batch) SPLIT         isolate the bad input by splitting
    404 OBJECT_NOT_FOUND               RECORD        the record is gone (orphaned)
    5xx, 0 (no response), resets       RETRY         bounded backoff
    other 4xx                          RECORD        this input is wrong: ledger it

Every module of hubspot-api-client raises its *own* `ApiException` classes (contacts,
objects.tasks, properties ... each generate a copy), so `isinstance` against one of them
misses the others. `verdict_of` recognises any of them by shape (status, body, headers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import (
    AuthError,
    ConfigError,
    QuotaExhaustedError,
    RateLimitedError,
    RetriableError,
    SessionExpiredError,
    SmsyncError,
)
from connector.retry import parse_retry_after
from connector.vendor_errors import Action, ErrorRule, first_match

# First match wins; `code` is compared with policyName, category, errorType and subCategory.
TABLE: tuple[ErrorRule, ...] = (
    ErrorRule(Action.QUOTA, 429, "DAILY"),
    ErrorRule(Action.RATE_LIMITED, 429),
    ErrorRule(Action.REFRESH_AUTH, 401, "EXPIRED_AUTHENTICATION"),
    ErrorRule(Action.AUTH, 401),
    ErrorRule(Action.CONFIG, 403, "MISSING_SCOPES"),
    ErrorRule(Action.AUTH, 403),
    ErrorRule(Action.SPLIT, 409),
    ErrorRule(Action.SPLIT, 400, "VALIDATION_ERROR"),
    ErrorRule(Action.RECORD, 404),
    ErrorRule(Action.RETRY, 500, status_to=599),
    ErrorRule(Action.RETRY, 0),  # no response at all
    ErrorRule(Action.RETRY, 408),
    ErrorRule(Action.RECORD, 400, status_to=499),
)

# One entry of a 207 body's `errors[]`, by its category: the same rule shape, matched on the
# category alone. Anything unlisted is a permanent record error that still goes to the
# retry ledger with its reason.
RECORD_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule(Action.RETRY, code="RATE_LIMIT"),
    ErrorRule(Action.RETRY, code="RATE_LIMITS"),
    ErrorRule(Action.RETRY, code="CONFLICT"),
    ErrorRule(Action.RETRY, code="LOCKED"),
    ErrorRule(Action.RETRY, code="TIMEOUT"),
    ErrorRule(Action.RETRY, code="INTERNAL_ERROR"),
    ErrorRule(Action.ORPHANED, code="OBJECT_NOT_FOUND"),
    ErrorRule(Action.ORPHANED, code="RESOURCE_NOT_FOUND"),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one failed response, plus the parts worth reporting."""

    action: Action
    status: int
    code: str
    message: str
    retry_after: float | None = None
    body: Mapping[str, Any] | None = None


def _codes(body: Mapping[str, Any]) -> list[str]:
    return [
        str(body[k])
        for k in ("policyName", "category", "errorType", "subCategory")
        if body.get(k) is not None
    ]


def parse_body(raw: object) -> dict[str, Any]:
    """An error body as a dict, whatever the SDK left it as (bytes, str, None)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str) and raw.strip():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return {"message": raw[:200]}
        return data if isinstance(data, dict) else {}
    return dict(raw) if isinstance(raw, Mapping) else {}


def classify(status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> Verdict:
    codes = _codes(body)
    rule = first_match(TABLE, status, codes)
    action = rule.action if rule is not None else Action.RECORD
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    return Verdict(
        action=action,
        status=status,
        code=codes[0] if codes else (f"HTTP_{status}" if status else "NETWORK"),
        message=str(body.get("message") or f"HTTP {status}")[:300],
        retry_after=retry_after,
        body=body,
    )


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return None


def is_sdk_error(exc: BaseException) -> bool:
    """True for the ApiException of any hubspot-api-client module."""
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status")


def verdict_of(exc: BaseException) -> Verdict:
    """The table's verdict for an SDK exception, a urllib3 error or a socket error."""
    if is_sdk_error(exc):
        status = int(getattr(exc, "status", 0) or 0)
        headers = getattr(exc, "headers", None) or {}
        body = parse_body(getattr(exc, "body", None))
        if status == 0 and not body:
            body = {"message": str(getattr(exc, "reason", "") or "no response")[:200]}
        return classify(status, body, dict(headers))
    return classify(0, {"message": f"{type(exc).__name__}: no response"}, {})


_RAISES: Mapping[Action, Callable[[str, Verdict], SmsyncError]] = {
    Action.RATE_LIMITED: lambda t, v: RateLimitedError(t, retry_after=v.retry_after),
    Action.REFRESH_AUTH: lambda t, _: SessionExpiredError(t),
    Action.RETRY: lambda t, v: RetriableError(t, retry_after=v.retry_after),
    Action.QUOTA: lambda t, _: QuotaExhaustedError(
        t + "; the daily API limit is used up, writes resume tomorrow"
    ),
    Action.AUTH: lambda t, _: AuthError(
        t + "; check HUBSPOT_ACCESS_TOKEN (private-app token, or OAuth refresh token)"
    ),
    Action.CONFIG: lambda t, _: ConfigError(t + "; grant the app the missing scopes"),
}


def to_error(verdict: Verdict, operation: str) -> SmsyncError:
    """The exception from the shared tree that tells the caller what to do."""
    text = f"HubSpot {operation}: {verdict.status} {verdict.code}: {verdict.message}"
    make = _RAISES.get(verdict.action)
    return make(text, verdict) if make is not None else BatchRejectedError(verdict, text)


class BatchRejectedError(SmsyncError):
    """A whole request was refused for its content (409, 400, 404): split it or ledger it."""

    def __init__(self, verdict: Verdict, text: str) -> None:
        super().__init__(text)
        self.verdict = verdict


@dataclass(frozen=True, slots=True)
class RecordFailure:
    code: str
    message: str
    retriable: bool
    orphaned: bool


def record_failure(category: str | None, message: str | None) -> RecordFailure:
    """One entry of a 207 `errors[]` (or a batch of one refused whole), per the table."""
    code = category or "UNKNOWN"
    rule = first_match(RECORD_TABLE, None, (code,))
    action = rule.action if rule is not None else Action.RECORD
    return RecordFailure(
        code,
        (message or code)[:300],
        retriable=action is Action.RETRY,
        orphaned=action is Action.ORPHANED,
    )


class NoResponseError(RetriableError):
    """The request may or may not have been applied (reset, timeout): a create must be
    reconciled before it is sent again."""
