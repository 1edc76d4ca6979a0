"""Writeback: contact field updates, SMS communications and tasks, 100 inputs per call,
associations inline, every write idempotent on its external id (see `engagements` for
how, per idempotency mode, and `batches` for how a batch's outcome is read back)."""

from __future__ import annotations

from collections.abc import Sequence

from connector.crm.hubspot.batches import Batch, BatchInput, BatchSender, Outcome
from connector.crm.hubspot.engagements import Engagements, Mode
from connector.crm.hubspot.errors import RecordFailure
from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import CONTACTS, ContactMapper
from connector.crm.links import kept_only
from connector.domain.model import CrmWrite, WriteResult
from connector.metrics import CRM_WRITES
from connector.ports import IdMap


class Writer:
    def __init__(
        self, api: HubSpotApi, mapper: ContactMapper, mode: Mode, id_map: IdMap | None
    ) -> None:
        self.api = api
        self.mapper = mapper
        self.activity_object = mapper.mapping.activity.object
        self.task_object = mapper.mapping.tasks.object
        self.sender = BatchSender(api)
        self.engagements = Engagements(
            api,
            self.sender,
            mode,
            id_map,
            {
                self.activity_object: mapper.mapping.activity.external_id_field,
                self.task_object: mapper.mapping.tasks.external_id_field,
            },
        )

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
                self.engagements.write(obj, writes, by_ext, bodies, outcomes)
        return [self._result(w, o) for w, o in zip(writes, outcomes, strict=True)]

    def _properties(self, w: CrmWrite) -> dict[str, str]:
        if w.kind == "field_update":
            return self.mapper.contact_properties(kept_only(w, self.mapper.mapping.maps).fields)
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
        inputs: list[BatchInput] = []
        for record_id, idx in updates.items():
            merged: dict[str, str] = {}
            for i in idx:
                merged.update(bodies[i])
            inputs.append(BatchInput(record_id, {"id": record_id, "properties": merged}))
        batch = Batch(
            "batch update contacts",
            self.api.contacts_batch.update_with_http_info,
            "batch_input_simple_public_object_batch_input",
            lambda obj: str(obj.id),
        )
        self.sender.send_all(batch, inputs)
        for inp, idx in zip(inputs, updates.values(), strict=True):
            for i in idx:
                out[i] = inp.outcome
