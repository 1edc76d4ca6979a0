"""The org's daily API allocation, read from `Sforce-Limit-Info` on every response.

A `requests` response hook sees every answer (errors and query pages included), so the
share in use is always the server's latest word, and the gauge follows it."""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
import structlog

from connector.errors import QuotaExhaustedError
from connector.metrics import CRM_API_USAGE

log = structlog.get_logger(__name__)
_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """'api-usage=18/5000' (maybe with per-app usage after it) -> (18, 5000)."""
    if not header:
        return None
    m = _USAGE.search(header)
    if m is None:
        return None
    used, total = int(m.group(1)), int(m.group(2))
    return (used, total) if total > 0 else None


class ApiUsage:
    """Thread-safe latest usage; `check()` refuses new writes past the configured share."""

    def __init__(self, stop_share: float, crm: str = "salesforce") -> None:
        self.stop_share = stop_share
        self.crm = crm
        self._lock = threading.Lock()
        self.used: int | None = None
        self.total: int | None = None

    def observe(self, header: str | None) -> None:
        parsed = parse_limit_info(header)
        if parsed is None:
            return
        with self._lock:
            self.used, self.total = parsed
        CRM_API_USAGE.labels(self.crm).set(parsed[0] / parsed[1])

    def hook(self, response: requests.Response, *_: Any, **__: Any) -> requests.Response:
        """A `requests` response hook: every response passes through here."""
        self.observe(response.headers.get("Sforce-Limit-Info"))
        return response

    @property
    def share(self) -> float | None:
        with self._lock:
            if self.used is None or not self.total:
                return None
            return self.used / self.total

    def check(self) -> None:
        """Raise QuotaExhaustedError once the share in use reaches the stop share."""
        share = self.share
        if share is not None and share >= self.stop_share:
            log.warning(
                "salesforce.quota_stop",
                used=self.used,
                total=self.total,
                stop_share=self.stop_share,
            )
            raise QuotaExhaustedError(
                f"Salesforce API usage is {self.used}/{self.total} ({share:.0%}), at or past"
                f" SMSYNC_API_USAGE_STOP_SHARE={self.stop_share:g}; writeback stops and resumes"
                " when the rolling 24-hour allocation frees up"
            )
