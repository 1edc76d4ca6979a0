"""The exception tree, grouped by what the caller should do.

    SmsyncError                  root: anything smsync raises on purpose
    ├── ConfigError              fix the configuration, then run again (exit 2)
    │   └── ConfigFileError      one or more FILE:LINE:COL problems in a YAML file
    │       ├── MappingError     ... in a mapping file
    │       └── PlaysError       ... in a plays file
    ├── RetriableError           transient: back off and try again
    │   ├── RateLimitedError     the vendor said slow down (may carry retry_after)
    │   └── SessionExpiredError  refresh credentials once, then retry
    ├── FatalError               stop the run: retrying will not help
    │   ├── AuthError            credentials revoked or wrong
    │   └── QuotaExhaustedError  daily allocation or configured share used up
    └── RecordError              this one record failed: skip it, ledger it

Messages are for operators; they never carry secrets or full phone numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


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
