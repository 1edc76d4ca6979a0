"""HubSpot batch calls: up to 100 inputs a call, each input's outcome read back from the
reply. A 207 commits its successes and reports each failure with its reason; a whole batch
refused with 409 (or a 400 that one bad input causes) is split in halves until the culprit
stands alone, or the inputs the refusal names are failed and the rest sent again."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from connector.crm.hubspot.errors import (
    BatchRejectedError,
    NoResponseError,
    RecordFailure,
    record_failure,
)
from connector.crm.hubspot.http import HubSpotApi
from connector.errors import RetriableError

log = structlog.get_logger(__name__)

BATCH_MAX = 100


@dataclass(slots=True)
class Outcome:
    ok: bool = False
    crm_id: str | None = None
    created: bool = False
    failure: RecordFailure | None = None


@dataclass(slots=True)
class BatchInput:
    key: str  # what results and errors are matched on: record id or external id
    body: dict[str, Any]
    outcome: Outcome = field(default_factory=Outcome)


@dataclass(frozen=True, slots=True)
class Batch:
    operation: str
    fn: Callable[..., Any]
    param: str
    result_key: Callable[[Any], str | None]
    idempotent: bool = True


def _error_keys(err: Any) -> list[str]:
    keys = [str(err.id)] if getattr(err, "id", None) else []
    context = getattr(err, "context", None) or {}
    for values in context.values():
        keys.extend(str(v) for v in values or [])
    return keys


class BatchSender:
    """Sends inputs in batches of `BATCH_MAX` and settles each input's `outcome`."""

    def __init__(self, api: HubSpotApi) -> None:
        self.api = api

    def send_all(self, batch: Batch, inputs: list[BatchInput]) -> None:
        for start in range(0, len(inputs), BATCH_MAX):
            self._send(batch, inputs[start : start + BATCH_MAX])

    def _send(self, batch: Batch, inputs: list[BatchInput]) -> None:
        """One call; a whole-batch refusal splits it, a transient failure that outlived
        its retries fails each input as retriable."""
        try:
            reply = self.api.call(
                batch.operation,
                batch.fn,
                idempotent=batch.idempotent,
                body={batch.param: {"inputs": [inp.body for inp in inputs]}},
            )
        except BatchRejectedError as exc:
            named = _named_in(exc.verdict.message, inputs) if len(inputs) > 1 else []
            if named and len(named) < len(inputs):
                # the refusal names its culprits (a deleted contact to associate with, an
                # unknown id): fail those and send the rest, instead of halving blindly
                failure = record_failure(exc.verdict.code, exc.verdict.message)
                orphaned = RecordFailure(
                    failure.code, failure.message, retriable=False, orphaned=True
                )
                for inp in named:
                    inp.outcome = Outcome(failure=orphaned)
                self._send(batch, [inp for inp in inputs if inp not in named])
                return
            if len(inputs) > 1:
                half = len(inputs) // 2
                log.info("hubspot.batch.split", operation=batch.operation, size=len(inputs))
                self._send(batch, inputs[:half])
                self._send(batch, inputs[half:])
                return
            v = exc.verdict
            code = "CONFLICT" if v.status == 409 else v.code
            failure = record_failure(code, v.message)
            inputs[0].outcome = Outcome(failure=failure)
            return
        except NoResponseError:
            if not batch.idempotent:
                raise
            self._fail_all(inputs, "NO_RESPONSE", "no response from HubSpot after retries")
            return
        except RetriableError as exc:
            self._fail_all(inputs, "RETRY_EXHAUSTED", str(exc))
            return
        self._settle(batch, inputs, reply.data)

    @staticmethod
    def _fail_all(inputs: list[BatchInput], code: str, message: str) -> None:
        for inp in inputs:
            inp.outcome = Outcome(
                failure=RecordFailure(code, message[:300], retriable=True, orphaned=False)
            )

    @staticmethod
    def _settle(batch: Batch, inputs: list[BatchInput], data: Any) -> None:
        by_key = {inp.key: inp for inp in inputs}
        for obj in getattr(data, "results", None) or []:
            key = batch.result_key(obj)
            inp = by_key.get(key) if key is not None else None
            if inp is not None:
                inp.outcome = Outcome(ok=True, crm_id=str(obj.id))
        unclaimed: list[Any] = []
        for err in getattr(data, "errors", None) or []:
            failure = record_failure(getattr(err, "category", None), getattr(err, "message", None))
            keys = [k for k in _error_keys(err) if k in by_key]
            if not keys:
                message = str(getattr(err, "message", "") or "")
                keys = [k for k in by_key if k and k in message]
            if not keys:
                unclaimed.append(failure)
            for k in keys:
                if not by_key[k].outcome.ok:
                    by_key[k].outcome = Outcome(failure=failure)
        orphans = [inp for inp in inputs if not inp.outcome.ok and inp.outcome.failure is None]
        if unclaimed and len(unclaimed) == len(orphans):
            for inp, failure in zip(orphans, unclaimed, strict=True):
                inp.outcome = Outcome(failure=failure)
        elif orphans:
            detail = json.dumps([f.code for f in unclaimed])[:200]
            for inp in orphans:
                inp.outcome = Outcome(
                    failure=RecordFailure(
                        "UNMATCHED",
                        f"no result for this input {detail}",
                        retriable=True,
                        orphaned=False,
                    )
                )


def _named_in(message: str, inputs: list[BatchInput]) -> list[BatchInput]:
    """Inputs whose id or association target the error message names."""
    words = set(re.findall(r"[\w:.-]+", message))
    named = []
    for inp in inputs:
        targets = [str(a["to"]["id"]) for a in inp.body.get("associations", [])]
        if inp.key in words or any(t in words for t in targets):
            named.append(inp)
    return named
