"""SMS communications and tasks (engagements), created associated inline with their contact
and idempotent on their external id, by the mapping's `idempotency` mode:

- `unique_property`: the external-id property is unique. A batch create carries it plus the
  inline association (batch upsert cannot associate); an input whose external id already
  exists comes back as a per-record CONFLICT and is then upserted by `idProperty`, which
  updates the existing record instead of creating a second one.
- `local_map`: the property is plain. The HubSpot id of each external id is kept in an
  `IdMap`; known ids are batch-updated, unknown ones created. Before a create the external
  id is marked pending; after an ambiguous failure (no response) a search on the property
  reconciles before anything is created again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from connector.crm.hubspot.batches import Batch, BatchInput, BatchSender, Outcome
from connector.crm.hubspot.errors import NoResponseError, RecordFailure
from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import CONTACTS
from connector.domain.model import CrmWrite
from connector.errors import ConfigError
from connector.ports import IdMap

SEARCH_BODY_MAX = 2_800  # HubSpot refuses search bodies over 3,000 characters
PENDING = ""  # IdMap value: a create was sent, its outcome unknown
ASSOCIATION_TYPES = {"communications": 81, "tasks": 204}  # engagement -> contact

Mode = Literal["unique_property", "local_map"]


class Engagements:
    """Creates (or updates) the engagements of one call to `Writer.write`."""

    def __init__(
        self,
        api: HubSpotApi,
        sender: BatchSender,
        mode: Mode,
        id_map: IdMap | None,
        ext_field: dict[str, str],
    ) -> None:
        if mode == "local_map" and id_map is None:
            # an id map forgotten on restart would create every engagement again
            raise ConfigError(
                "idempotency: local_map keeps each HubSpot id in the store's id map, and the"
                " adapter was built without one; pass the store's (StoreIdMap)"
            )
        self.api = api
        self.sender = sender
        self.mode = mode
        self.id_map = id_map
        self.ext_field = ext_field

    def write(
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
            ext: BatchInput(ext, self._create_body(obj, writes[i], bodies[i]))
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

    def _create_batch(self, obj: str, ext_field: str, *, idempotent: bool) -> Batch:
        batch_api, _ = self._apis(obj)
        return Batch(
            f"batch create {obj}",
            batch_api.create_with_http_info,
            "batch_input_simple_public_object_batch_input_for_create",
            lambda o: (o.properties or {}).get(ext_field),
            idempotent,
        )

    def _create_or_upsert(self, obj: str, ext_field: str, inputs: list[BatchInput]) -> None:
        for inp in inputs:
            inp.outcome = Outcome()
        self.sender.send_all(self._create_batch(obj, ext_field, idempotent=True), inputs)
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
            BatchInput(
                inp.key,
                {"id": inp.key, "idProperty": ext_field, "properties": inp.body["properties"]},
            )
            for inp in existing
        ]
        self.sender.send_all(
            Batch(
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
        self, id_map: IdMap, obj: str, ext_field: str, inputs: dict[str, BatchInput]
    ) -> None:
        known = id_map.get_many(list(inputs))
        pending = [ext for ext, crm_id in known.items() if crm_id == PENDING]
        if pending:
            found = self._reconcile(obj, ext_field, pending)
            id_map.put_many(found)
            known.update(found)
        updates = [
            BatchInput(crm_id, {"id": crm_id, "properties": inputs[ext].body["properties"]})
            for ext, crm_id in known.items()
            if crm_id != PENDING
        ]
        if updates:
            batch_api, _ = self._apis(obj)
            self.sender.send_all(
                Batch(
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
            self.sender.send_all(self._create_batch(obj, ext_field, idempotent=False), fresh)
        except NoResponseError:
            self._after_ambiguous(id_map, obj, ext_field, fresh)
        created = {
            inp.key: inp.outcome.crm_id for inp in fresh if inp.outcome.ok and inp.outcome.crm_id
        }
        for inp in fresh:
            inp.outcome.created = inp.outcome.ok
        id_map.put_many({k: v for k, v in created.items() if v})

    def _after_ambiguous(
        self, id_map: IdMap, obj: str, ext_field: str, fresh: list[BatchInput]
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
            self.sender.send_all(self._create_batch(obj, ext_field, idempotent=False), retry)
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

    def _apis(self, obj: str) -> tuple[Any, Any]:
        if obj == "tasks":
            return self.api.tasks_batch, self.api.tasks_search
        return self.api.communications_batch, self.api.communications_search


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
