"""Every Salesforce failure, classified in ONE table: status + errorCode -> what to do.

Whole calls and single records of a collection go through the same rows, so a code means
the same thing wherever it shows up. The actions are the shared ones of
`connector/vendor_errors.py`:

    RETRY         transient: back off and call again (5xx, resets, row locks)
    RATE_LIMITED  the org sheds load (403 REQUEST_LIMIT_EXCEEDED, not the daily cap)
    REFRESH_AUTH  401 INVALID_SESSION_ID: log in again once under the lock, retry once
    QUOTA         the daily allocation is used up: stop writing, keep state
    CONFIG        the mapping or org set-up is wrong: an operator must fix it
    ORPHANED      the target was deleted or merged: never retry
    RECORD        this record is refused: ledger it, the rest of the batch stands
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from connector.errors import (
    ConfigError,
    FatalError,
    QuotaExhaustedError,
    RateLimitedError,
    RetriableError,
    SessionExpiredError,
    SmsyncError,
)
from connector.logs import scrub_text
from connector.vendor_errors import Action, ErrorRule, first_match

TARGET_FIELDS = ("WhoId", "WhatId", "Id")

# First match wins; the order goes from the most to the least specific.
TABLE: tuple[ErrorRule, ...] = (
    ErrorRule(Action.REFRESH_AUTH, 401, "INVALID_SESSION_ID"),
    ErrorRule(
        Action.QUOTA,
        403,
        "REQUEST_LIMIT_EXCEEDED",
        message_has="TotalRequests",
        hint="the org's daily API allocation is used up; writeback resumes once it frees up",
    ),
    ErrorRule(Action.QUOTA, None, "REQUEST_LIMIT_EXCEEDED", message_has="TotalRequests"),
    ErrorRule(Action.RATE_LIMITED, 403, "REQUEST_LIMIT_EXCEEDED"),
    ErrorRule(Action.RATE_LIMITED, None, "REQUEST_LIMIT_EXCEEDED"),
    ErrorRule(Action.RETRY, None, "UNABLE_TO_LOCK_ROW"),
    ErrorRule(Action.RETRY, None, "ALL_OR_NONE_OPERATION_ROLLED_BACK"),
    ErrorRule(Action.RETRY, None, "PROCESSING_HALTED"),
    ErrorRule(Action.RETRY, None, "SERVER_UNAVAILABLE"),
    ErrorRule(Action.ORPHANED, None, "ENTITY_IS_DELETED"),
    ErrorRule(Action.ORPHANED, None, "INVALID_CROSS_REFERENCE_KEY", fields_has="WhoId"),
    ErrorRule(Action.ORPHANED, None, "INVALID_CROSS_REFERENCE_KEY", fields_has="WhatId"),
    ErrorRule(Action.ORPHANED, None, "INVALID_CROSS_REFERENCE_KEY", fields_has="Id"),
    ErrorRule(
        Action.CONFIG,
        403,
        "API_DISABLED_FOR_ORG",
        hint="enable API access for the org and the integration user's profile",
    ),
    ErrorRule(
        Action.CONFIG,
        403,
        hint="give the integration user access to the mapped objects and fields",
    ),
    ErrorRule(
        Action.CONFIG,
        400,
        "INVALID_FIELD",
        hint="a mapped field does not exist or is not visible; run `smsync mappings check`",
    ),
    ErrorRule(
        Action.CONFIG,
        400,
        "INVALID_TYPE",
        hint="a mapped object does not exist; run `smsync mappings check`",
    ),
    ErrorRule(Action.CONFIG, 400, "MALFORMED_QUERY", hint="a query was refused; report this bug"),
    ErrorRule(Action.CONFIG, 404, hint="check SF_API_VERSION and the mapped object names"),
    ErrorRule(Action.ORPHANED, None, "NOT_FOUND"),  # a record of a collection: target gone
    ErrorRule(Action.RETRY, 500),
    ErrorRule(Action.RETRY, 502),
    ErrorRule(Action.RETRY, 503),
    ErrorRule(Action.RETRY, 504),
)


def classify(
    status: int | None, code: str | None, message: str = "", fields: Sequence[str] = ()
) -> ErrorRule:
    """The first row that matches; 5xx retry, anything else is a per-record refusal."""
    found = first_match(TABLE, status, (code,) if code else (), message, fields)
    if found is not None:
        return found
    if status is not None and status >= 500:
        return ErrorRule(Action.RETRY, status)
    return ErrorRule(Action.RECORD, status, code)


@dataclass(frozen=True, slots=True)
class ApiError:
    """The first error of a failed call, as Salesforce reported it."""

    status: int
    code: str | None
    message: str


def parse_error(status: int, content: Any) -> ApiError:
    """Salesforce error bodies are a list of {message, errorCode}; be lenient otherwise."""
    body = content
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return ApiError(status, None, scrub_text(str(content))[:300])
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        code = first.get("errorCode") or first.get("statusCode") or first.get("error")
        message = first.get("message") or first.get("error_description") or ""
        return ApiError(status, str(code) if code else None, scrub_text(str(message))[:300])
    return ApiError(status, None, scrub_text(str(body))[:300])


def to_smsync_error(exc: SalesforceError, operation: str) -> SmsyncError:
    """One whole call failed: the exception the caller's policy acts on."""
    err = parse_error(exc.status, exc.content)
    return error_for(err, operation)


def error_for(err: ApiError, operation: str) -> SmsyncError:
    rule = classify(err.status, err.code, err.message)
    what = f"Salesforce {operation}: {err.status} {err.code or ''} {err.message}".rstrip()
    hint = f"; {rule.hint}" if rule.hint else ""
    if rule.action is Action.REFRESH_AUTH:
        return SessionExpiredError(what)
    if rule.action is Action.QUOTA:
        return QuotaExhaustedError(what + hint)
    if rule.action is Action.RATE_LIMITED:
        return RateLimitedError(what, retry_after=None)
    if rule.action is Action.RETRY:
        return RetriableError(what)
    if rule.action is Action.CONFIG:
        return ConfigError(what + hint)
    return FatalError(what + hint)


def connection_error(exc: requests.RequestException, operation: str) -> RetriableError:
    """Resets, timeouts and refused connections: the call may be made again.

    Every call we retry is a query or an upsert by external id, so a repeat is harmless."""
    return RetriableError(f"Salesforce {operation}: {type(exc).__name__}; will retry")
