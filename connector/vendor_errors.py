"""The one vocabulary the adapters' error tables speak: what to do with a vendor's answer
(`Action`) and the shape of one row of a table (`ErrorRule`).

Each adapter keeps its vendor's codes in its own `errors.py` (crm/salesforce,
crm/hubspot, sms/twilio), as one table of rules, first match wins, and turns the action
into an exception of `connector/errors.py`. A code therefore means the same thing wherever
it shows up: on a whole call or on one record of a batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum, unique


@unique
class Action(StrEnum):
    RETRY = "retry"  # transient (5xx, resets, row locks): back off and call again
    RATE_LIMITED = "rate_limited"  # the vendor sheds load: wait (Retry-After), then retry
    REFRESH_AUTH = "refresh_auth"  # the session or token expired: refresh once, retry once
    AUTH = "auth"  # credentials wrong or revoked: stop and say which
    QUOTA = "quota"  # the daily allocation is spent: stop writing, keep state
    CONFIG = "config"  # the mapping or the account's set-up is wrong: an operator fixes it
    SPLIT = "split"  # a whole batch refused for one input: split it to find the culprit
    ORPHANED = "orphaned"  # the target record was deleted or merged: never retry
    OPT_OUT = "opt_out"  # the recipient opted out at the provider: feed the consent ledger
    INVALID_NUMBER = "invalid_number"  # the number can never receive a text: never retry
    LANDLINE = "landline"  # a landline (or other number that takes no text): never retry
    RECORD = "record"  # this record is refused: ledger it, the rest of the batch stands


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row: matches when each given part matches (None matches anything).

    `status` alone is one HTTP status; with `status_to`, the inclusive range between them
    (500 to 599). `code` is compared with each code the answer carries (the vendor's error
    code, HubSpot's category or policy name). `message_has` and `fields_has` tell apart
    answers that share a code (Salesforce's daily cap from load shedding; a deleted target
    from a bad owner)."""

    action: Action
    status: int | None = None
    code: str | None = None
    _: KW_ONLY
    status_to: int | None = None
    message_has: str | None = None
    fields_has: str | None = None
    hint: str = ""  # what the operator should do, appended to the error's message

    def matches(
        self,
        status: int | None,
        codes: Collection[str] = (),
        message: str = "",
        fields: Collection[str] = (),
    ) -> bool:
        if self.status is not None:
            high = self.status if self.status_to is None else self.status_to
            if status is None or not self.status <= status <= high:
                return False
        if self.code is not None and self.code not in codes:
            return False
        if self.message_has is not None and self.message_has not in message:
            return False
        return self.fields_has is None or self.fields_has in fields


def first_match(
    table: Iterable[ErrorRule],
    status: int | None,
    codes: Collection[str] = (),
    message: str = "",
    fields: Collection[str] = (),
) -> ErrorRule | None:
    """The first rule of `table` that matches, or None (the adapter's default applies)."""
    return next((rule for rule in table if rule.matches(status, codes, message, fields)), None)
