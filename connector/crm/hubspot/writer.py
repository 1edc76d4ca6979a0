"""Writeback: contact field updates, SMS communications and tasks, 100 inputs per call,
associations inline, every write idempotent on its external id.

Idempotency, by the mapping's `idempotency` mode:
- `unique_property`: the external-id property is unique. A batch create carries it plus the
  inline association (batch upsert cannot associate); an input whose external id already
  exists comes back as a per-record CONFLICT and is then upserted by `idProperty`, which
  updates the existing record instead of creating a second one.
- `local_map`: the property is plain. The HubSpot id of each external id is kept in an
  `IdMap`; known ids are batch-updated, unknown ones created. Before a create the external
  id is marked pending; after an ambiguous failure (no response) a search on the property
  reconciles before anything is created again.

A 207 commits its successes and reports each failure with its reason; a whole batch
refused with 409 (or a 400 that one bad input causes) is split in halves until the culprit
stands alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from connector.crm.hubspot.errors import (
    BatchRejectedError,
    NoResponseError,
    RecordFailure,
    record_failure,
)
from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import CONTACTS, ContactMapper
from connector.domain.model import CrmWrite, WriteResult
from connector.errors import ConfigError, RetriableError
from connector.metrics import CRM_WRITES
from connector.ports import IdMap

log = structlog.get_logger(__name__)

BATCH_MAX = 100
SEARCH_BODY_MAX = 2_800  # HubSpot refuses search bodies over 3,000 characters
PENDING = ""  # IdMap value: a create was sent, its outcome unknown
ASSOCIATION_TYPES = {"communications": 81, "tasks": 204}  # engagement -> contact

Mode = Literal["unique_property", "local_map"]


@dataclass(slots=True)
class Outcome:
    ok: bool = False
    crm_id: str | None = None
    created: bool = False
    failure: RecordFailure | None = None


@dataclass(slots=True)
class _Input:
    key: str  # what results and errors are matched on: record id or external id
    body: dict[str, Any]
    outcome: Outcome = field(default_factory=Outcome)


@dataclass(frozen=True, slots=True)
class _Batch:
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


class Writer:
    def __init__(
        self, api: HubSpotApi, mapper: ContactMapper, mode: Mode, id_map: IdMap | None
    ) -> None:
        self.api = api
        self.mapper = mapper
        self.mode = mode
        if mode == "local_map" and id_map is None:
            # an id map forgotten on restart would create every engagement again
            raise ConfigError(
                "idempotency: local_map keeps each HubSpot id in the store's id map, and the"
                " adapter was built without one; pass the store's (StoreIdMap)"
            )
        self.id_map: IdMap | None = id_map
        self.activity_object = mapper.mapping.activity.object
        self.task_object = mapper.mapping.tasks.object
        self.ext_field = {
            self.activity_object: mapper.mapping.activity.external_id_field,
            self.task_object: mapper.mapping.tasks.external_id_field,
        }

    # entry point -----------------------------------------------------------------------

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        outcomes: list[Outcome] = [Outcome() for _ in writes]
        updates: dict[str, list[int]] = {}
        engagements: dict[str, dict[str, list[int]]] = {
            self.activity_object: {},
            self.task_object: {},
        }
        bodies: dict[int, dict[str, str]] = {}
        for i, w in enumerate(writes):
            try:
                bodies[i] = self._properties(w)
            except (KeyError, ValueError) as exc:
                outcomes[i].failure = RecordFailure(
                    "MAPPING", str(exc).strip("'\""), retriable=False, orphaned=False
                )
                continue
            if w.kind == "field_update":
                if w.target.object_type != CONTACTS:
                    outcomes[i].failure = RecordFailure(
                        "UNSUPPORTED_OBJECT",
                        f"cannot update {w.target.object_type}",
                        retriable=False,
                        orphaned=False,
                    )
                    continue
                updates.setdefault(w.target.id, []).append(i)
            else:
                obj = self.activity_object if w.kind == "activity" else self.task_object
                engagements[obj].setdefault(w.external_id, []).append(i)
        self._field_updates(updates, bodies, outcomes)
        for obj, by_ext in engagements.items():
            if by_ext:
                self._engagements(obj, writes, by_ext, bodies, outcomes)
        return [self._result(w, o) for w, o in zip(writes, outcomes, strict=True)]

    def _properties(self, w: CrmWrite) -> dict[str, str]:
        if w.kind == "field_update":
            return self.mapper.contact_properties(w.fields)
        if w.kind == "activity":
            return self.mapper.activity_properties(w)
        return self.mapper.task_properties(w)

    @staticmethod
    def _result(w: CrmWrite, o: Outcome) -> WriteResult:
        if o.ok:
            CRM_WRITES.labels("hubspot", w.kind, "created" if o.created else "updated").inc()
            return WriteResult(w.external_id, ok=True, crm_id=o.crm_id, created=o.created)
        failure = o.failure or RecordFailure(
            "NO_RESULT", "HubSpot reported no outcome", retriable=True, orphaned=False
        )
        CRM_WRITES.labels("hubspot", w.kind, "failed").inc()
        return WriteResult(
            w.external_id,
            ok=False,
            error_code=failure.code,
            error_message=failure.message,
            retriable=failure.retriable,
            orphaned=failure.orphaned,
        )

    # contact field updates -------------------------------------------------------------

    def _field_updates(
        self, updates: dict[str, list[int]], bodies: dict[int, dict[str, str]], out: list[Outcome]
    ) -> None:
        """One input per contact (HubSpot refuses a batch naming an id twice): the
        updates of one contact merge, later values winning."""
        inputs: list[_Input] = []
        for record_id, idx in updates.items():
            merged: dict[str, str] = {}
            for i in idx:
                merged.update(bodies[i])
            inputs.append(_Input(record_id, {"id": record_id, "properties": merged}))
        batch = _Batch(
            "batch update contacts",
            self.api.contacts_batch.update_with_http_info,
            "batch_input_simple_public_object_batch_input",
            lambda obj: str(obj.id),
        )
        self._send_all(batch, inputs)
        for inp, idx in zip(inputs, updates.values(), strict=True):
            for i in idx:
                out[i] = inp.outcome

    # engagements -----------------------------------------------------------------------

    def _apis(self, obj: str) -> tuple[Any, Any]:
        if obj == "tasks":
            return self.api.tasks_batch, self.api.tasks_search
        return self.api.communications_batch, self.api.communications_search

    def _engagements(
        self,
        obj: str,
        writes: Sequence[CrmWrite],
        by_ext: dict[str, list[int]],
        bodies: dict[int, dict[str, str]],
        out: list[Outcome],
    ) -> None:
        ext_field = self.ext_field[obj]
        latest = {ext: idx[-1] for ext, idx in by_ext.items()}  # a replay in one call: last wins
        inputs = {
            ext: _Input(ext, self._create_body(obj, writes[i], bodies[i]))
            for ext, i in latest.items()
        }
        if self.mode == "unique_property":
            self._create_or_upsert(obj, ext_field, list(inputs.values()))
        else:
            assert self.id_map is not None  # local_map: __init__ refused to go without one
            self._create_with_map(self.id_map, obj, ext_field, inputs)
        for ext, idx in by_ext.items():
            for i in idx:
                out[i] = inputs[ext].outcome

    @staticmethod
    def _create_body(obj: str, w: CrmWrite, props: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"properties": props}
        if w.target.object_type == CONTACTS and obj in ASSOCIATION_TYPES:
            body["associations"] = [
                {
                    "to": {"id": w.target.id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": ASSOCIATION_TYPES[obj],
                        }
                    ],
                }
            ]
        return body

    def _create_batch(self, obj: str, ext_field: str, *, idempotent: bool) -> _Batch:
        batch_api, _ = self._apis(obj)
        return _Batch(
            f"batch create {obj}",
            batch_api.create_with_http_info,
            "batch_input_simple_public_object_batch_input_for_create",
            lambda o: (o.properties or {}).get(ext_field),
            idempotent,
        )

    def _create_or_upsert(self, obj: str, ext_field: str, inputs: list[_Input]) -> None:
        for inp in inputs:
            inp.outcome = Outcome()
        self._send_all(self._create_batch(obj, ext_field, idempotent=True), inputs)
        for inp in inputs:
            if inp.outcome.ok:
                inp.outcome.created = True
        existing = [
            inp
            for inp in inputs
            if not inp.outcome.ok and inp.outcome.failure and inp.outcome.failure.code == "CONFLICT"
        ]
        if not existing:
            return
        batch_api, _ = self._apis(obj)
        upserts = [
            _Input(
                inp.key,
                {"id": inp.key, "idProperty": ext_field, "properties": inp.body["properties"]},
            )
            for inp in existing
        ]
        self._send_all(
            _Batch(
                f"batch upsert {obj}",
                batch_api.upsert_with_http_info,
                "batch_input_simple_public_object_batch_input_upsert",
                lambda o: (o.properties or {}).get(ext_field),
            ),
            upserts,
        )
        for inp, up in zip(existing, upserts, strict=True):
            inp.outcome = up.outcome  # created stays False: it already existed

    def _create_with_map(
        self, id_map: IdMap, obj: str, ext_field: str, inputs: dict[str, _Input]
    ) -> None:
        known = id_map.get_many(list(inputs))
        pending = [ext for ext, crm_id in known.items() if crm_id == PENDING]
        if pending:
            found = self._reconcile(obj, ext_field, pending)
            id_map.put_many(found)
            known.update(found)
        updates = [
            _Input(crm_id, {"id": crm_id, "properties": inputs[ext].body["properties"]})
            for ext, crm_id in known.items()
            if crm_id != PENDING
        ]
        if updates:
            batch_api, _ = self._apis(obj)
            self._send_all(
                _Batch(
                    f"batch update {obj}",
                    batch_api.update_with_http_info,
                    "batch_input_simple_public_object_batch_input",
                    lambda o: str(o.id),
                ),
                updates,
            )
            by_ext = {ext: crm_id for ext, crm_id in known.items() if crm_id != PENDING}
            outcomes = {u.key: u.outcome for u in updates}
            for ext, crm_id in by_ext.items():
                inputs[ext].outcome = outcomes[crm_id]
        fresh = [inp for ext, inp in inputs.items() if known.get(ext, PENDING) == PENDING]
        if not fresh:
            return
        id_map.put_many({inp.key: PENDING for inp in fresh})
        try:
            self._send_all(self._create_batch(obj, ext_field, idempotent=False), fresh)
        except NoResponseError:
            self._after_ambiguous(id_map, obj, ext_field, fresh)
        created = {
            inp.key: inp.outcome.crm_id for inp in fresh if inp.outcome.ok and inp.outcome.crm_id
        }
        for inp in fresh:
            inp.outcome.created = inp.outcome.ok
        id_map.put_many({k: v for k, v in created.items() if v})

    def _after_ambiguous(
        self, id_map: IdMap, obj: str, ext_field: str, fresh: list[_Input]
    ) -> None:
        """The create may have landed: look before creating again (once)."""
        unsettled = [inp for inp in fresh if not inp.outcome.ok and inp.outcome.failure is None]
        found = self._reconcile(obj, ext_field, [inp.key for inp in unsettled])
        id_map.put_many(found)
        retry = []
        for inp in unsettled:
            if inp.key in found:
                inp.outcome = Outcome(ok=True, crm_id=found[inp.key], created=True)
            else:
                retry.append(inp)
        if not retry:
            return
        try:
            self._send_all(self._create_batch(obj, ext_field, idempotent=False), retry)
        except NoResponseError as exc:
            for inp in retry:
                inp.outcome = Outcome(
                    failure=RecordFailure("NO_RESPONSE", str(exc), retriable=True, orphaned=False)
                )

    def _reconcile(self, obj: str, ext_field: str, external_ids: list[str]) -> dict[str, str]:
        """External id -> HubSpot id for those that exist, by searching the property."""
        _, search_api = self._apis(obj)
        found: dict[str, str] = {}
        for chunk in chunks_for_search(external_ids):
            after: str | None = None
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": ext_field, "operator": "IN", "values": chunk}
                            ]
                        }
                    ],
                    "properties": [ext_field],
                    "limit": 200,
                }
                if after:
                    body["after"] = after
                page = self.api.call(
                    f"search {obj}",
                    search_api.do_search_with_http_info,
                    search=True,
                    public_object_search_request=body,
                ).data
                for o in page.results or []:
                    ext = (o.properties or {}).get(ext_field)
                    if ext:
                        found.setdefault(str(ext), str(o.id))
                nxt = page.paging.next.after if page.paging and page.paging.next else None
                if not nxt:
                    break
                after = nxt
        return found

    # batches -----------------------------------------------------------------------------

    def _send_all(self, batch: _Batch, inputs: list[_Input]) -> None:
        for start in range(0, len(inputs), BATCH_MAX):
            self._send(batch, inputs[start : start + BATCH_MAX])

    def _send(self, batch: _Batch, inputs: list[_Input]) -> None:
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
    def _fail_all(inputs: list[_Input], code: str, message: str) -> None:
        for inp in inputs:
            inp.outcome = Outcome(
                failure=RecordFailure(code, message[:300], retriable=True, orphaned=False)
            )

    @staticmethod
    def _settle(batch: _Batch, inputs: list[_Input], data: Any) -> None:
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


def _named_in(message: str, inputs: list[_Input]) -> list[_Input]:
    """Inputs whose id or association target the error message names."""
    words = set(re.findall(r"[\w:.-]+", message))
    named = []
    for inp in inputs:
        targets = [str(a["to"]["id"]) for a in inp.body.get("associations", [])]
        if inp.key in words or any(t in words for t in targets):
            named.append(inp)
    return named


def chunks_for_search(values: list[str]) -> list[list[str]]:
    """IN lists small enough that the search body stays under HubSpot's size limit."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for v in values:
        cost = len(json.dumps(v)) + 1
        if current and (size + cost > SEARCH_BODY_MAX - 200 or len(current) >= 100):
            chunks.append(current)
            current, size = [], 0
        current.append(v)
        size += cost
    if current:
        chunks.append(current)
    return chunks
