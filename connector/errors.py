"""The exception tree, grouped by what the caller should do.

    SmsyncError                  root: anything smsync raises on purpose
    ├── ConfigError              fix the configuration, then run again (exit 2)
    │   └── ConfigFileError      one or more FILE:LINE:COL problems in a YAML file
    │       ├── MappingError     ... in a mapping file
    │       └── PlaysError       ... in a plays file
    ├── RetriableError           transient: back off and try again
    │   ├── RateLimitedError     the vendor said slow down (may carry retry_after)
    │   ├── SessionExpiredError  refresh credentials once, then retry
    │   └── AmbiguousSendError   a text may have gone out: reconcile, never re-send blindly
    ├── FatalError               stop the run: retrying will not help
    │   ├── AuthError            credentials revoked or wrong
    │   └── QuotaExhaustedError  daily allocation or configured share used up
    └── RecordError              this one record failed: skip it, ledger it
        └── SmsRefusedError      the SMS provider refused this text for good
            ├── RecipientOptedOutError    the recipient opted out at the provider
            └── UndeliverableNumberError  the number can never take a text

The SMS errors are the port's words (`connector/ports.py`, `SmsPort`): an adapter turns
its vendor's codes into them, so the engine never compares a vendor's code. The vendor's
own code still rides on the error (`code`) as data: the CRM and the report show it.

Messages are for operators; they never carry secrets or full phone numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique


class SmsyncError(Exception):
    """Root of every error smsync raises on purpose."""


class ConfigError(SmsyncError):
    """The configuration is wrong; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in a configuration file."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigFileError(ConfigError):
    """Every problem found in one or more YAML files, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MappingError(ConfigFileError):
    """Every problem found in a mapping file."""


class PlaysError(ConfigFileError):
    """Every problem found in a plays file (checked against the mapping it uses)."""


class RetriableError(SmsyncError):
    """Transient failure: the same call may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetriableError):
    """The vendor throttled us (HTTP 429 or equivalent)."""


class SessionExpiredError(RetriableError):
    """The session token expired; refresh once under a lock, then retry."""


class FatalError(SmsyncError):
    """Retrying will not help; stop and tell the operator."""


class AuthError(FatalError):
    """Credentials are wrong or revoked."""


class QuotaExhaustedError(FatalError):
    """The daily API allocation, or the configured share of it, is used up."""


class RecordError(SmsyncError):
    """One record failed; the rest of the batch stands. Goes to the retry ledger."""

    def __init__(self, message: str, *, code: str = "", external_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.external_id = external_id


class AmbiguousSendError(RetriableError):
    """The send may have reached the provider and no answer came back. Whoever retries must
    ask the provider first (`SmsPort.find_send`); a blind re-send could text the person
    twice."""


@unique
class SmsFailure(StrEnum):
    """What a provider's refusal of a text, or a failed delivery, means to the engine,
    whatever the provider. The values are stored (a row's `last_error` starts with
    `invalid_number` or `landline`; a decision's reason code), so they never change."""

    OPTED_OUT = "opted_out"  # the recipient opted out at the provider: a consent fact
    INVALID_NUMBER = "invalid_number"  # no such number, or none that can be reached
    LANDLINE = "landline"  # a landline, or another number that cannot take a text
    OTHER = "other"  # this text failed; the number may take the next one

    @property
    def number_dead(self) -> bool:
        """The number will never take a text: recorded on its records, never retried."""
        return self in (SmsFailure.INVALID_NUMBER, SmsFailure.LANDLINE)


class SmsRefusedError(RecordError):
    """The SMS provider refused this text; other texts are unaffected. `code` is the
    provider's own code (data for the CRM and the dead-letter ledger), `failure` what it
    means."""

    failure: SmsFailure = SmsFailure.OTHER

    def __init__(self, message: str, *, code: str, to: str = "") -> None:
        super().__init__(message, code=code)
        self.to = to


class RecipientOptedOutError(SmsRefusedError):
    """The recipient opted out at the provider (a carrier-level STOP): the engine records
    it in the consent ledger as a provider block."""

    failure = SmsFailure.OPTED_OUT


class UndeliverableNumberError(SmsRefusedError):
    """The number can never take a text (`failure` says why: invalid, or a landline).
    Permanent: never retried, recorded on the contact."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        to: str = "",
        failure: SmsFailure = SmsFailure.INVALID_NUMBER,
    ) -> None:
        if not failure.number_dead:
            raise ValueError(f"{failure} does not say the number is dead")
        super().__init__(message, code=code, to=to)
        self.failure = failure
