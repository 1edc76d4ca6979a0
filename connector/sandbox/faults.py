"""Fault knobs, set per vendor through the admin API and consumed atomically per call."""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.sandbox.vendors import VENDORS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Storm(_Strict):
    """Answer the next `count` calls with 429, with or without Retry-After."""

    count: int = Field(ge=0)
    retry_after: float | None = Field(default=None, ge=0)


class ServerErrors(_Strict):
    count: int = Field(ge=0)
    status: int = Field(default=503, ge=500, le=599)


class KillAfterWrites(_Strict):
    """Signal `pid` once `writes` more records are committed and acknowledged."""

    writes: int = Field(ge=1)
    pid: int = Field(ge=2)
    signal: int = 9


class RecordErrorSpec(_Strict):
    code: str = "INVALID_FIELD"
    message: str = "injected per-record error"
    status: int = 400


class BulkPageError(_Strict):
    """Answer one Bulk API 2.0 results page with 5xx: page 0 is the request without a
    locator, page k the one with the k-th locator a job handed out."""

    page: int = Field(ge=0)
    status: int = Field(default=503, ge=500, le=599)
    count: int = Field(default=1, ge=0)


class BulkFailure(_Strict):
    """The next `count` query jobs created end `Failed` instead of `JobComplete`."""

    count: int = Field(default=1, ge=0)
    error_message: str = "InternalServerError : injected query job failure"
    retries: int = Field(default=0, ge=0, description="the failed job reports these retries")


class BulkFaults(_Strict):
    """Bulk API 2.0 query jobs (Salesforce). Slowness applies to jobs created while set."""

    fail_jobs: BulkFailure | None = None
    page_errors: list[BulkPageError] = Field(default_factory=list)
    extra_polls: int = Field(
        default=0, ge=0, le=10_000, description="polls a new job answers InProgress beyond one"
    )
    processing_s: float = Field(
        default=0, ge=0, description="sandbox seconds before a new job can complete"
    )


class FaultSpec(_Strict):
    """The fault knobs of one vendor. A count is consumed one per affected call."""

    latency_ms: float = Field(default=0, ge=0, le=60_000)
    throttle: Storm | None = None
    server_errors: ServerErrors | None = None
    resets: int = Field(default=0, ge=0, description="connections reset before any effect")
    drop_after_commit: int = Field(
        default=0, ge=0, description="writes committed, then the connection is reset"
    )
    session_expire_after: int | None = Field(
        default=None, ge=0, description="sessions expire after this many more calls"
    )
    record_errors: dict[str, RecordErrorSpec] = Field(
        default_factory=dict,
        description="record id, external id (or, for records created without one, the "
        "Opportunity Name or deal dealname) -> error to return",
    )
    batch_conflicts: int = Field(default=0, ge=0, description="whole batches answered 409")
    kill_after_writes: KillAfterWrites | None = None
    bulk: BulkFaults | None = None


class Faults:
    """Per-vendor fault state, consumed atomically so concurrent calls see exact counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, FaultSpec] = {v: FaultSpec() for v in VENDORS}

    def set(self, vendor: str, spec: FaultSpec) -> None:
        with self._lock:
            self._specs[vendor] = spec

    def clear(self, vendor: str | None = None) -> None:
        with self._lock:
            for v in [vendor] if vendor else list(VENDORS):
                self._specs[v] = FaultSpec()

    def get(self, vendor: str) -> FaultSpec:
        with self._lock:
            return self._specs[vendor].model_copy(deep=True)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {v: s.model_dump(exclude_defaults=True) for v, s in self._specs.items()}

    def take(
        self, vendor: str, knob: Literal["resets", "drop_after_commit", "batch_conflicts"]
    ) -> bool:
        """Consume one unit of a counted knob; True when the fault applies to this call."""
        with self._lock:
            spec = self._specs[vendor]
            left: int = getattr(spec, knob)
            if left <= 0:
                return False
            setattr(spec, knob, left - 1)
            return True

    def take_throttle(self, vendor: str) -> Storm | None:
        with self._lock:
            storm = self._specs[vendor].throttle
            if storm is None or storm.count <= 0:
                return None
            storm.count -= 1
            return Storm(count=storm.count, retry_after=storm.retry_after)

    def take_server_error(self, vendor: str) -> int | None:
        with self._lock:
            errors = self._specs[vendor].server_errors
            if errors is None or errors.count <= 0:
                return None
            errors.count -= 1
            return errors.status

    def session_call(self, vendor: str) -> bool:
        """Count one authenticated call; True once the configured expiry is reached."""
        with self._lock:
            spec = self._specs[vendor]
            if spec.session_expire_after is None:
                return False
            if spec.session_expire_after <= 0:
                spec.session_expire_after = None
                return True
            spec.session_expire_after -= 1
            return False

    def record_error(self, vendor: str, *keys: str) -> RecordErrorSpec | None:
        with self._lock:
            specs = self._specs[vendor].record_errors
            for key in keys:
                if key and key in specs:
                    return specs[key]
            return None

    def latency(self, vendor: str) -> float:
        with self._lock:
            return self._specs[vendor].latency_ms / 1000.0

    def take_bulk_failure(self, vendor: str) -> BulkFailure | None:
        """Consume one job failure; the returned copy says how the job fails."""
        with self._lock:
            bulk = self._specs[vendor].bulk
            fail = bulk.fail_jobs if bulk else None
            if fail is None or fail.count <= 0:
                return None
            fail.count -= 1
            return fail.model_copy()

    def take_bulk_page_error(self, vendor: str, page: int) -> int | None:
        """Consume one 5xx for results page `page`; returns the status to answer."""
        with self._lock:
            bulk = self._specs[vendor].bulk
            for spec in bulk.page_errors if bulk else []:
                if spec.page == page and spec.count > 0:
                    spec.count -= 1
                    return spec.status
            return None

    def bulk_slowness(self, vendor: str) -> tuple[int, float]:
        """(extra polls, processing seconds) for a query job created now."""
        with self._lock:
            bulk = self._specs[vendor].bulk
            return (bulk.extra_polls, bulk.processing_s) if bulk else (0, 0.0)

    def wrote(self, vendor: str, n: int) -> KillAfterWrites | None:
        """Count committed records; returns the kill order when its threshold is crossed."""
        with self._lock:
            kill = self._specs[vendor].kill_after_writes
            if kill is None:
                return None
            kill.writes -= n
            if kill.writes > 0:
                return None
            self._specs[vendor].kill_after_writes = None
            return kill
