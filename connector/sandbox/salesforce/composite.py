"""sObject Collections (`/composite/sobjects`) and `/composite`, with allOrNone rollback.

Whole-batch conflict fault: Salesforce has no 409 for a batch; the nearest real failure is
row-lock contention, so every record of the batch fails with `UNABLE_TO_LOCK_ROW` (which
API_FACTS lists as retriable) and nothing is written."""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox.salesforce.api import BadJsonError, Call, DataApi, Reply, error
from connector.sandbox.salesforce.schema import ObjectDef, find_object
from connector.sandbox.salesforce.writes import VENDOR, RecordFailureError

MAX_RECORDS = 200
MAX_SUBREQUESTS = 25
MAX_HEAVY_SUBREQUESTS = 5
ROLLED_BACK = RecordFailureError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same "
        "transaction failed.",
    }
]
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HEAVY = re.compile(r"/(composite/sobjects|query|queryAll)(/|\?|$)")


class Collections:
    """The `/composite/sobjects` family."""

    def __init__(self, api: DataApi) -> None:
        self.api = api

    def _records(self, call: Call) -> tuple[list[Any], bool]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RecordFailureError("JSON_PARSER_ERROR", "records: a JSON array is required")
        records: list[Any] = body["records"]
        if len(records) > MAX_RECORDS:
            raise RecordFailureError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return records, bool(body.get("allOrNone", False))

    def _type(self, record: Any, fixed: ObjectDef | None = None) -> ObjectDef:
        if fixed is not None:
            return fixed
        attrs = record.get("attributes") if isinstance(record, dict) else None
        name = attrs.get("type") if isinstance(attrs, dict) else None
        if not isinstance(name, str) or not name:
            raise RecordFailureError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = find_object(self.api.schema, name)
        if obj is None:
            raise RecordFailureError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj

    def _run(
        self,
        items: list[Any],
        all_or_none: bool,
        work: Any,
        *,
        upsert: bool = False,
    ) -> Reply:
        """Apply `work(item) -> result dict` to each item, with the batch-level rules."""
        store = self.api.store
        if self.api.state.faults.take(VENDOR, "batch_conflicts"):
            self.api.state.stats.fault(VENDOR, "batch_conflict")
            results = [
                _failed(
                    RecordFailureError(
                        "UNABLE_TO_LOCK_ROW",
                        "unable to obtain exclusive access to this record or 1 records: "
                        + _item_id(item),
                    ),
                    _item_id(item) or None,
                    upsert,
                )
                for item in items
            ]
            return Reply(200, results)
        savepoint = store.begin()
        results = []
        ok: list[int] = []
        for i, item in enumerate(items):
            item_savepoint = store.begin()
            try:
                results.append(work(item))
                ok.append(i)
            except RecordFailureError as exc:
                store.rollback(item_savepoint)
                results.append(_failed(exc, _item_id(item) or None, upsert))
        if all_or_none and len(ok) < len(items):
            store.rollback(savepoint)
            for i in ok:
                results[i] = _failed(ROLLED_BACK, results[i].get("id"), upsert)
        return Reply(200, results)

    def create(self, call: Call, _: re.Match[str]) -> Reply:
        records, all_or_none = self._records(call)
        writer = self.api.writer

        def work(record: Any) -> dict[str, Any]:
            obj = self._type(record)
            values = writer.values(obj, record, creating=True)
            row = writer.create(obj, values)
            return {"id": row["Id"], "success": True, "errors": []}

        return self._run(records, all_or_none, work)

    def update(self, call: Call, _: re.Match[str]) -> Reply:
        records, all_or_none = self._records(call)
        writer = self.api.writer

        def work(record: Any) -> dict[str, Any]:
            obj = self._type(record)
            record_id = record.get("Id") or record.get("id")
            if not record_id:
                raise RecordFailureError("MISSING_ARGUMENT", "Id not specified in an update call")
            values = writer.values(obj, record, creating=False, passthrough=frozenset({"id"}))
            row = writer.update(obj, str(record_id), values)
            return {"id": row["Id"], "success": True, "errors": []}

        return self._run(records, all_or_none, work)

    def upsert(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.api.sobject(m["type"])
        ext = obj.field(m["field"])
        if ext is None or not ext.external_id:
            return error(
                400,
                "INVALID_FIELD",
                f"Field name provided, {m['field']} is not an External ID or indexed field "
                f"for {obj.name}",
            )
        records, all_or_none = self._records(call)
        writer = self.api.writer

        def work(record: Any) -> dict[str, Any]:
            typed = self._type(record, obj) if isinstance(record, dict) else obj
            attrs = record.get("attributes") if isinstance(record, dict) else None
            if (
                isinstance(attrs, dict)
                and str(attrs.get("type", obj.name)).lower() != obj.name.lower()
            ):
                raise RecordFailureError("INVALID_TYPE", "All records must be of the same type")
            values = writer.values(typed, record, creating=True)
            ext_value = values.pop(ext.name, None)
            if ext_value in (None, ""):
                raise RecordFailureError(
                    "MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name]
                )
            row, created = writer.upsert(typed, ext, str(ext_value), values)
            return {"id": row["Id"], "success": True, "errors": [], "created": created}

        return self._run(records, all_or_none, work, upsert=True)

    def retrieve(self, call: Call, m: re.Match[str]) -> Reply:
        obj = self.api.sobject(m["type"])
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        fields = self.api.field_list(obj, call.params.get("fields"))
        if not ids or fields is None:
            return error(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > 2000:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 2000 records into this call",
            )
        out: list[Any] = []
        for record_id in ids:
            row = self.api.store.get(obj.name, record_id) if len(record_id) in (15, 18) else None
            out.append(None if row is None else self.api.render(obj, row, call.version, fields))
        return Reply(200, out)

    def delete(self, call: Call, _: re.Match[str]) -> Reply:
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        if len(ids) > MAX_RECORDS:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = call.params.get("allOrNone", "false").lower() == "true"
        store = self.api.store

        def work(record_id: str) -> dict[str, Any]:
            name = store.object_for_id(record_id)
            if name is None:
                raise RecordFailureError("MALFORMED_ID", f"malformed id {record_id}")
            self.api.writer.delete(self.api.schema[name], record_id)
            return {"id": record_id, "success": True, "errors": []}

        return self._run(ids, all_or_none, work)


def _item_id(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return str(item.get("Id") or item.get("id") or "")
    return ""


def _failed(exc: RecordFailureError, record_id: str | None, upsert: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"success": False, "errors": [exc.collection_error()]}
    if record_id:
        out = {"id": record_id, **out}
    if upsert:
        out["created"] = False
    return out


class Composite:
    """`POST /composite`: up to 25 subrequests, one API call, optional all-or-none."""

    def __init__(self, api: DataApi) -> None:
        self.api = api

    def handle(self, call: Call, _: re.Match[str]) -> Reply:
        body = call.json()
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            return error(
                400, "JSON_PARSER_ERROR", "compositeRequest: a non-empty array is required"
            )
        if len(subs) > MAX_SUBREQUESTS:
            return error(
                400,
                "LIMIT_EXCEEDED",
                f"Composite API: the request has {len(subs)} subrequests; the maximum is "
                f"{MAX_SUBREQUESTS}",
            )
        heavy = sum(1 for s in subs if isinstance(s, dict) and _HEAVY.search(str(s.get("url", ""))))
        if heavy > MAX_HEAVY_SUBREQUESTS:
            return error(
                400,
                "LIMIT_EXCEEDED",
                f"Composite API: the request has {heavy} sObject Collections or query "
                f"subrequests; the maximum is {MAX_HEAVY_SUBREQUESTS}",
            )
        all_or_none = bool(body.get("allOrNone", False))
        store = self.api.store
        savepoint = store.begin()
        done: dict[str, Any] = {}
        results: list[dict[str, Any]] = []
        failed_at: int | None = None
        for i, sub in enumerate(subs):
            ref_id = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if failed_at is not None and all_or_none:
                results.append(_sub(400, HALTED, ref_id))
                continue
            reply = self._one(sub, done)
            if reply.status < 300 and ref_id:
                done[ref_id] = reply.body
            results.append(_sub(reply.status, reply.body, ref_id, reply.headers))
            if reply.status >= 400 and failed_at is None:
                failed_at = i
        if all_or_none and failed_at is not None:
            store.rollback(savepoint)
            for i in range(failed_at):
                results[i] = _sub(400, HALTED, results[i]["referenceId"])
        return Reply(200, {"compositeResponse": results})

    def _one(self, sub: Any, done: dict[str, Any]) -> Reply:
        if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= sub.keys():
            return error(400, "INVALID_INPUT", "method, url and referenceId are required")
        try:
            url = _resolve(str(sub["url"]), done)
            body = _resolve_json(sub.get("body"), done)
        except KeyError as exc:
            return error(
                400,
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {exc.args[0]} found in a previous "
                "subrequest.",
            )
        path, _, query = url.partition("?")
        m = re.match(r"/services/data/v(\d+\.\d)/?(.*)", path)
        if m is None:
            return error(400, "INVALID_INPUT", f"invalid subrequest url: {path}")
        params = _params(query)
        headers = {k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
        sub_call = Call(
            method=str(sub["method"]).upper(),
            path=m.group(2).strip("/"),
            version=m.group(1),
            params=params,
            headers=headers,
            parsed=body,
        )
        refused = _refused(sub_call.path)
        if refused is not None:
            return error(400, "INVALID_INPUT", refused)
        try:
            return self.api.dispatch(sub_call)
        except BadJsonError as exc:  # pragma: no cover - parsed bodies never fail to parse
            return error(400, "JSON_PARSER_ERROR", str(exc))


def _refused(path: str) -> str | None:
    """Why a subrequest path cannot run inside /composite (nesting, Bulk API 2.0 jobs)."""
    if path.startswith("composite") and not path.startswith("composite/sobjects"):
        return "composite requests cannot be nested"
    if path == "jobs" or path.startswith("jobs/"):
        return f"{path} is not supported in a composite request"
    return None


def _sub(
    status: int, body: Any, ref_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "body": body,
        "httpHeaders": dict(headers or {}),
        "httpStatusCode": status,
        "referenceId": ref_id,
    }


def _params(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query, keep_blank_values=True))


def _lookup(done: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in done:
        raise KeyError(f"{ref}{path}")
    value = done[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise KeyError(f"{ref}{path}") from exc
    return value


def _resolve(text: str, done: dict[str, Any]) -> str:
    return _REFERENCE.sub(lambda m: str(_lookup(done, m.group(1), m.group(2))), text)


def _resolve_json(value: Any, done: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(done, whole.group(1), whole.group(2))
        return _resolve(value, done)
    if isinstance(value, list):
        return [_resolve_json(v, done) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_json(v, done) for k, v in value.items()}
    return value
