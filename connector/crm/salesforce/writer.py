"""Writeback at the API maximum: every CrmWrite in `POST /composite` requests of up to
5 sObject Collections subrequests of 200 records each, i.e. 1,000 records per API call.

- Activities and tasks are upserts on the mapping's external-id field
  (`PATCH composite/sobjects/Task/SMS_Message_Id__c`), so a replay updates, never
  duplicates.
- Field updates are `PATCH composite/sobjects` by Id (an idempotent overwrite). Updates of
  one record in one call are merged (later keys win): Salesforce refuses a list holding an
  Id twice, and one record costs less than two.
- A rep's text (`into_record`: the rep's `rep_send:` Task, when it is the activity object)
  is logged INTO that Task, by Id, with the external id set on it: one Task per text on
  the timeline, which later status updates find by external id. If that Task is gone by
  then, the activity is upserted as a Task of its own.
- `allOrNone` is false: a refused record fails alone, classified by the errors table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from connector.crm.links import kept_only
from connector.crm.salesforce.errors import classify, parse_error
from connector.crm.salesforce.http import SalesforceApi
from connector.crm.salesforce.limits import ApiUsage
from connector.crm.salesforce.mapping import DIRECTION_FIELD, SalesforceMapping, WriteMappingError
from connector.domain.model import CrmWrite, WriteResult
from connector.errors import QuotaExhaustedError
from connector.logs import scrub_text
from connector.vendor_errors import Action

log = structlog.get_logger(__name__)
COLLECTION_MAX = 200
COLLECTIONS_PER_COMPOSITE = 5
OWNER_PREFIXES = {"005": "User", "00G": "Group"}


@dataclass
class _Record:
    body: dict[str, Any]
    writes: list[int] = field(default_factory=list)  # indices of the writes it carries


@dataclass
class _Unit:
    """One sObject Collections subrequest."""

    method: str
    path: str
    records: list[_Record]
    upsert: bool


@dataclass(frozen=True, slots=True)
class TaskObjectInfo:
    """What describe says about the Task object, read once per adapter."""

    direction_field: str | None
    owner_targets: frozenset[str]


class Writer:
    def __init__(self, api: SalesforceApi, mapping: SalesforceMapping, usage: ApiUsage) -> None:
        self.api = api
        self.mapping = mapping
        self.usage = usage
        self._task_info: TaskObjectInfo | None = None

    # describe-driven details -------------------------------------------------------------
    def task_info(self) -> TaskObjectInfo:
        if self._task_info is None:
            name = self.mapping.config.activity.object
            body = self.api.restful("describe", f"sobjects/{name}/describe")
            fields = {f.get("name"): f for f in (body or {}).get("fields", [])}
            direction = fields.get(DIRECTION_FIELD)
            values = {p.get("value") for p in (direction or {}).get("picklistValues", [])}
            owner = fields.get("OwnerId") or {}
            self._task_info = TaskObjectInfo(
                DIRECTION_FIELD if direction and {"Inbound", "Outbound"} <= values else None,
                frozenset(owner.get("referenceTo") or ()),
            )
        return self._task_info

    def _fallback_owner(self) -> str | None:
        """The mapping's fallback owner, when Task.OwnerId can point at that kind of record."""
        owner = self.mapping.config.tasks.fallback_owner_id
        if not owner:
            return None
        target = OWNER_PREFIXES.get(owner[:3])
        if target is not None and target not in self.task_info().owner_targets:
            log.warning(
                "salesforce.fallback_owner_unusable",
                fallback_owner_id=owner,
                owner_targets=sorted(self.task_info().owner_targets),
                action="tasks of unowned records go to the integration user",
            )
            return None
        return owner

    # packing -----------------------------------------------------------------------------
    def _units(self, writes: Sequence[CrmWrite], results: list[WriteResult | None]) -> list[_Unit]:
        upserts: dict[tuple[str, str], dict[str, _Record]] = {}
        updates: dict[str, _Record] = {}
        needs_task = any(w.kind in ("activity", "task") for w in writes)
        direction = self.task_info().direction_field if needs_task else None
        fallback: str | None = None
        if any(w.kind == "task" and not w.owner_id for w in writes):
            fallback = self._fallback_owner()
        cfg = self.mapping.config
        for i, w in enumerate(writes):
            kind: str = w.kind  # a plain str: rows from the store may hold anything
            try:
                if kind == "field_update":
                    body = self.mapping.field_update(kept_only(w, self.mapping.config.maps))
                    rec = updates.setdefault(w.target.id, _Record({}))
                    rec.body.update(body)
                    rec.writes.append(i)
                    continue
                into = self._into(w)
                if into is not None:
                    body = self.mapping.activity(w, direction_field=direction) | {"Id": into}
                    body.pop("TaskSubtype", None)  # set when a Task is created, not after
                    rec = updates.setdefault(into, _Record({}))
                    rec.body.update(body)
                    rec.writes.append(i)
                    continue
                if kind == "activity":
                    key = (cfg.activity.object, cfg.activity.external_id_field)
                    body = self.mapping.activity(w, direction_field=direction)
                elif kind == "task":
                    key = (cfg.tasks.object, cfg.tasks.external_id_field)
                    body = self.mapping.task(w, owner_id=w.owner_id or fallback)
                else:
                    body = _unknown_kind(w)
            except WriteMappingError as exc:
                results[i] = WriteResult(
                    w.external_id, ok=False, error_code=exc.code, error_message=str(exc)
                )
                continue
            rec = upserts.setdefault(key, {}).setdefault(w.external_id, _Record({}))
            rec.body.update(body)
            rec.writes.append(i)
        units: list[_Unit] = []
        for (obj, ext), records in upserts.items():
            recs = list(records.values())
            for n in range(0, len(recs), COLLECTION_MAX):
                path = f"composite/sobjects/{obj}/{ext}"
                units.append(_Unit("PATCH", path, recs[n : n + COLLECTION_MAX], upsert=True))
        recs = list(updates.values())
        units.extend(
            _Unit("PATCH", "composite/sobjects", recs[n : n + COLLECTION_MAX], upsert=False)
            for n in range(0, len(recs), COLLECTION_MAX)
        )
        return units

    def _into(self, write: CrmWrite) -> str | None:
        """The rep's Task a rep's text is logged into, when the mapping's `rep_send:`
        records are activity records (a Task both); None: an upsert of its own."""
        into = write.fields.get("into_record") if write.kind == "activity" else None
        rep = self.mapping.config.rep_send
        if not isinstance(into, str) or not into or rep is None:
            return None
        return into if rep.object == self.mapping.config.activity.object else None

    # sending -----------------------------------------------------------------------------
    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        out = self._write(writes)
        # a rep's Task deleted (or not writable) since the text went: its own Task instead
        gone = [
            i
            for i, (w, r) in enumerate(zip(writes, out, strict=True))
            if not r.ok and not r.retriable and self._into(w) is not None
        ]
        if gone:
            alone = [
                replace(writes[i], fields={**writes[i].fields, "into_record": None}) for i in gone
            ]
            log.info(
                "salesforce.rep_task_gone",
                writes=len(alone),
                codes=sorted({out[i].error_code or "" for i in gone}),
            )
            for i, result in zip(gone, self._write(alone), strict=True):
                out[i] = result
        return out

    def _write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(writes)
        units = self._units(writes, results)
        base = f"/services/data/v{self.api.version}/"
        for n in range(0, len(units), COLLECTIONS_PER_COMPOSITE):
            group = units[n : n + COLLECTIONS_PER_COMPOSITE]
            self.usage.check()  # stop before the call that would pass the configured share
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": u.method,
                        "url": base + u.path,
                        "referenceId": f"c{j}",
                        "body": {"allOrNone": False, "records": [r.body for r in u.records]},
                    }
                    for j, u in enumerate(group)
                ],
            }
            answer = self.api.restful("composite", "composite", method="POST", json=body)
            subs = (answer or {}).get("compositeResponse") or []
            by_ref = {s.get("referenceId"): s for s in subs if isinstance(s, dict)}
            for j, unit in enumerate(group):
                self._settle(writes, unit, by_ref.get(f"c{j}"), results)
        out = [
            r
            if r is not None
            else WriteResult(
                w.external_id,
                ok=False,
                error_code="NO_RESULT",
                error_message="Salesforce answered without a result for this record",
                retriable=True,
            )
            for w, r in zip(writes, results, strict=True)
        ]
        failed = [r for r in out if not r.ok]
        if failed:
            log.warning(
                "salesforce.write_failures",
                failed=len(failed),
                total=len(out),
                codes=sorted({r.error_code or "" for r in failed}),
            )
        return out

    def _settle(
        self,
        writes: Sequence[CrmWrite],
        unit: _Unit,
        sub: dict[str, Any] | None,
        results: list[WriteResult | None],
    ) -> None:
        status = int(sub.get("httpStatusCode", 0)) if sub else 0
        body = sub.get("body") if sub else None
        items: list[Any]
        if 200 <= status < 300 and isinstance(body, list) and len(body) == len(unit.records):
            items = body
        else:  # the whole subrequest was refused: every record in it fails alike
            err = parse_error(status or 500, body)
            rule = classify(err.status, err.code, err.message)
            if rule.action is Action.QUOTA:
                raise QuotaExhaustedError(f"Salesforce composite: {err.code} {err.message}")
            items = [
                {
                    "success": False,
                    "errors": [
                        {"statusCode": err.code or f"HTTP_{err.status}", "message": err.message}
                    ],
                    "_status": err.status,
                }
                for _ in unit.records
            ]
        for rec, item in zip(unit.records, items, strict=True):
            result = _result(item, unit.upsert)
            for i in rec.writes:
                results[i] = _for_write(writes[i].external_id, result)


def _unknown_kind(write: CrmWrite) -> dict[str, Any]:
    raise WriteMappingError(
        f"unknown write kind {write.kind!r}; expected field_update, activity or task"
    )


def _result(item: Any, upsert: bool) -> WriteResult:
    if not isinstance(item, dict):
        return WriteResult("", ok=False, error_code="NO_RESULT", retriable=True)
    if item.get("success"):
        return WriteResult(
            "",
            ok=True,
            crm_id=item.get("id"),
            created=bool(item.get("created")) if upsert else False,
        )
    errors = item.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    message = scrub_text(str(first.get("message") or ""))[:500]
    fields = [str(f) for f in first.get("fields") or []]
    rule = classify(item.get("_status"), code, message, fields)
    return WriteResult(
        "",
        ok=False,
        crm_id=item.get("id"),
        error_code=code,
        error_message=message,
        retriable=rule.action in (Action.RETRY, Action.RATE_LIMITED, Action.REFRESH_AUTH),
        orphaned=rule.action is Action.ORPHANED,
    )


def _for_write(external_id: str, result: WriteResult) -> WriteResult:
    return WriteResult(
        external_id,
        ok=result.ok,
        crm_id=result.crm_id,
        created=result.created,
        error_code=result.error_code,
        error_message=result.error_message,
        retriable=result.retriable,
        orphaned=result.orphaned,
    )
