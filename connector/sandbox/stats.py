"""Exact call and record counters: what benchmarks and tests count CRM API calls with."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from connector.sandbox.vendors import VENDORS


class Stats:
    """Exact counters, read by tests and benchmarks to count API calls and records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, Counter[str]] = defaultdict(Counter)
            self._written: dict[str, Counter[str]] = defaultdict(Counter)
            self._throttled: Counter[str] = Counter()
            self._errors: dict[str, Counter[str]] = defaultdict(Counter)
            self._faults: dict[str, Counter[str]] = defaultdict(Counter)

    def call(self, vendor: str, endpoint: str) -> None:
        with self._lock:
            self._calls[vendor][endpoint] += 1

    def written(self, vendor: str, obj: str, n: int = 1) -> None:
        with self._lock:
            self._written[vendor][obj] += n

    def served(self, vendor: str, status: int) -> None:
        with self._lock:
            if status == 429:
                self._throttled[vendor] += 1
            if status >= 400:
                self._errors[vendor][str(status)] += 1

    def fault(self, vendor: str, kind: str) -> None:
        with self._lock:
            self._faults[vendor][kind] += 1

    def calls(self, vendor: str) -> int:
        with self._lock:
            return sum(self._calls[vendor].values())

    def records_written(self, vendor: str) -> int:
        with self._lock:
            return sum(self._written[vendor].values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {}
            for vendor in VENDORS:
                calls = dict(self._calls[vendor])
                written = dict(self._written[vendor])
                out[vendor] = {
                    "calls": sum(calls.values()),
                    "calls_by_endpoint": dict(sorted(calls.items())),
                    "records_written": sum(written.values()),
                    "records_written_by_object": dict(sorted(written.items())),
                    "throttled_429": self._throttled[vendor],
                    "errors_by_status": dict(self._errors[vendor]),
                    "faults_injected": dict(self._faults[vendor]),
                }
            return out
