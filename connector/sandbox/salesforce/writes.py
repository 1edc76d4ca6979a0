"""Record writes with Salesforce's validation: the same rules for single-record routes,
sObject Collections and composite subrequests, so every path fails alike.

Errors carry Salesforce's `{"message", "errorCode", "fields"}` items."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from connector.sandbox.core import SandboxState
from connector.sandbox.salesforce.opportunities import PipelineRules
from connector.sandbox.salesforce.schema import NUMERIC_TYPES, FieldDef, ObjectDef
from connector.sandbox.salesforce.soql import parse_datetime_literal
from connector.sandbox.salesforce.store import Record, Store, id18, looks_like_id, truncate_ms

VENDOR = "salesforce"
CLOSED_TASK_STATUSES = frozenset({"Completed"})  # TaskStatus values with IsClosed = true
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT = frozenset({"string", "phone", "picklist", "textarea", "email"})


class RecordFailureError(Exception):
    """A write refused for one record; `status` is what a single-record route answers."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status

    def rest_body(self) -> list[dict[str, Any]]:
        """The list body of a single-record REST error."""
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def collection_error(self) -> dict[str, Any]:
        """One entry of a collection result's `errors`."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def not_found(message: str = "The requested resource does not exist") -> RecordFailureError:
    return RecordFailureError("NOT_FOUND", message, status=404)


def parse_datetime(value: str) -> datetime:
    """The datetime forms Salesforce accepts in JSON: with Z, +0000, +00:00, or none (UTC)."""
    try:
        return parse_datetime_literal(value)
    except ValueError:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


class Writer:
    def __init__(self, state: SandboxState, schema: dict[str, ObjectDef], store: Store) -> None:
        self.state = state
        self.schema = schema
        self.store = store
        self.rules = PipelineRules(store)
        self.user_id = ""

    def now(self) -> datetime:
        return truncate_ms(self.state.clock.now())

    # validation --------------------------------------------------------------------------
    def values(
        self,
        obj: ObjectDef,
        body: Any,
        *,
        creating: bool,
        passthrough: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """JSON body -> canonical field name -> Python value; raises RecordFailureError."""
        if not (obj.createable if creating else obj.updateable):
            raise self.unsupported(obj, "create" if creating else "update")
        if not isinstance(body, dict):
            raise RecordFailureError(
                "JSON_PARSER_ERROR", "Can not deserialize SObject out of non-object token"
            )
        out: dict[str, Any] = {}
        readonly: list[str] = []
        for key, raw in body.items():
            if key == "attributes" or key.lower() in passthrough:
                continue
            f = obj.field(key)
            if f is None:
                raise RecordFailureError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            if not (f.createable if creating else f.updateable):
                readonly.append(f.name)
                continue
            out[f.name] = self._convert(f, raw)
        if readonly:
            raise RecordFailureError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        return out

    def _convert(self, f: FieldDef, raw: Any) -> Any:
        if raw is None or (raw == "" and f.type in _TEXT | {"reference"}):
            return None
        if isinstance(raw, (dict, list)) or (isinstance(raw, bool) and f.type != "boolean"):
            raise _deserialize(f.type, raw)
        if f.type in {"boolean", "datetime", "date"}:
            return _scalar(f.type, raw)
        if f.type in NUMERIC_TYPES:
            return _number(f, raw)
        value = raw if isinstance(raw, str) else str(raw)
        label = f.label or f.name
        if f.type in {"reference", "id"}:
            return self._reference(f, label, value)
        if f.type == "picklist":
            if value not in f.picklist:
                raise RecordFailureError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    [f.name],
                )
            return value
        if f.length and len(value) > f.length:
            raise RecordFailureError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {value[:100]} (max length={f.length})",
                [f.name],
            )
        if f.type == "email" and not _EMAIL.match(value):
            raise RecordFailureError(
                "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [f.name]
            )
        return value

    def _reference(self, f: FieldDef, label: str, value: str) -> str:
        if not looks_like_id(value):
            raise RecordFailureError(
                "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [f.name]
            )
        full = id18(value) if len(value) == 15 else value
        if f.reference_to:
            target = self.store.object_for_id(full)
            if target not in f.reference_to:
                raise RecordFailureError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{label}: id value of incorrect type: {value}",
                    [f.name],
                )
            if self.store.get(target, full) is None:
                raise RecordFailureError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    [f.name],
                )
        return full

    def _check_required(self, obj: ObjectDef, row: Record) -> None:
        missing = [
            f.name for f in obj.fields.values() if f.required and row.get(f.name) in (None, "")
        ]
        if missing:
            raise RecordFailureError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_unique(self, obj: ObjectDef, row: Record) -> None:
        for f in obj.fields.values():
            if (
                not f.unique
                or row.get(f.name) is None
                or not self.store.has_unique(obj.name, f.name)
            ):
                continue
            other = self.store.by_unique(obj.name, f.name, row[f.name])
            if other is not None and other["Id"] != row["Id"]:
                raise RecordFailureError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{other['Id']}",
                )

    @staticmethod
    def _derive(obj: ObjectDef, row: Record) -> None:
        if obj.field("Name") is not None and obj.name in {"Lead", "Contact", "User"}:
            parts = [row.get("FirstName"), row.get("LastName")]
            row["Name"] = " ".join(p for p in parts if p) or None

    @staticmethod
    def unsupported(obj: ObjectDef, operation: str) -> RecordFailureError:
        """A write to an object the API only reads (history, stages)."""
        return RecordFailureError(
            "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support {operation}"
        )

    def injected(self, *keys: Any) -> None:
        """The per-record fault, when one is set for any of these keys."""
        spec = self.state.faults.record_error(VENDOR, *(str(k) for k in keys if k))
        if spec is not None:
            self.state.stats.fault(VENDOR, "record_error")
            raise RecordFailureError(spec.code, spec.message, status=spec.status)

    # mutations ---------------------------------------------------------------------------
    def create(
        self, obj: ObjectDef, values: dict[str, Any], *, stamp: datetime | None = None
    ) -> Record:
        if not obj.createable:
            raise self.unsupported(obj, "create")
        keys = obj.fault_keys or tuple(f.name for f in obj.fields.values() if f.external_id)
        self.injected(*(values.get(k) for k in keys))
        now = stamp or self.now()
        row: Record = {
            "Id": self.store.new_id(obj.name),
            "IsDeleted": False,
            "CreatedDate": now,
            "CreatedById": self.user_id,
            "LastModifiedDate": now,
            "LastModifiedById": self.user_id,
            "SystemModstamp": now,
        }
        for f in obj.fields.values():
            if f.default_value is not None:
                row[f.name] = f.default_value
            elif f.type == "boolean" and f.createable:
                row[f.name] = f.name == "IsActive"
        if obj.field("OwnerId") is not None:
            row["OwnerId"] = self.user_id
        row.update(values)
        self._derive(obj, row)
        self._check_required(obj, row)
        self._check_unique(obj, row)
        self.rules.before_save(obj.name, None, row, values)
        self._completed(obj, None, row, now)
        self.store.put(obj.name, row)
        self._activity_logged(obj, row, now)
        self.rules.after_save(obj.name, None, row, now, self.user_id)
        return row

    @staticmethod
    def _completed(obj: ObjectDef, before: Record | None, row: Record, now: datetime) -> None:
        """Salesforce stamps a Task's CompletedDateTime when it closes, keeps it while it
        stays closed (a later edit is not a new completion) and clears it on reopening."""
        if obj.name != "Task" or obj.field("CompletedDateTime") is None:
            return
        if row.get("Status") not in CLOSED_TASK_STATUSES:
            row["CompletedDateTime"] = None
        elif (
            before is None
            or before.get("Status") not in CLOSED_TASK_STATUSES
            or before.get("CompletedDateTime") is None
        ):
            row["CompletedDateTime"] = now

    def _activity_logged(self, obj: ObjectDef, row: Record, now: datetime) -> None:
        """Salesforce keeps a person's LastActivityDate at the latest closed Task's date
        (its ActivityDate, else today); the person's SystemModstamp moves with it."""
        if obj.name != "Task" or row.get("Status") not in CLOSED_TASK_STATUSES:
            return
        who = row.get("WhoId")
        if not isinstance(who, str) or not looks_like_id(who):
            return
        day = row.get("ActivityDate")
        day = day if isinstance(day, date) else now.date()
        for person in ("Lead", "Contact"):
            current = self.store.get(person, who)
            if current is None:
                continue
            last = current.get("LastActivityDate")
            if isinstance(last, date) and last >= day:
                return
            self.store.put(person, {**current, "LastActivityDate": day, "SystemModstamp": now})
            return

    def update(self, obj: ObjectDef, record_id: str, values: dict[str, Any]) -> Record:
        if not obj.updateable:
            raise self.unsupported(obj, "update")
        self.injected(record_id)
        current = self.store.get(obj.name, record_id) if looks_like_id(record_id) else None
        if current is None:
            raise RecordFailureError(
                "ENTITY_IS_DELETED" if self._deleted(obj, record_id) else "NOT_FOUND",
                "entity is deleted"
                if self._deleted(obj, record_id)
                else "The requested resource does not exist",
                status=404,
            )
        row = dict(current)
        row.update(values)
        self._derive(obj, row)
        self._check_required(obj, row)
        self._check_unique(obj, row)
        self.rules.before_save(obj.name, current, row, values)
        now = self.now()
        row["LastModifiedDate"] = row["SystemModstamp"] = now
        row["LastModifiedById"] = self.user_id
        self._completed(obj, current, row, now)
        self.store.put(obj.name, row)
        self._activity_logged(obj, row, now)
        self.rules.after_save(obj.name, current, row, now, self.user_id)
        return row

    def _deleted(self, obj: ObjectDef, record_id: str) -> bool:
        return self.store.get(obj.name, record_id, include_deleted=True) is not None

    def upsert(
        self, obj: ObjectDef, ext: FieldDef, ext_value: str, values: dict[str, Any]
    ) -> tuple[Record, bool]:
        """(record, created); matched on the external id only."""
        self.injected(ext_value)
        existing = self.store.by_unique(obj.name, ext.name, ext_value)
        if existing is not None:
            return self.update(obj, existing["Id"], values), False
        return self.create(obj, {**values, ext.name: ext_value}), True

    def delete(self, obj: ObjectDef, record_id: str) -> None:
        if not obj.deletable:
            raise self.unsupported(obj, "delete")
        self.injected(record_id)
        current = self.store.get(obj.name, record_id) if looks_like_id(record_id) else None
        if current is None:
            if looks_like_id(record_id) and self._deleted(obj, record_id):
                raise RecordFailureError("ENTITY_IS_DELETED", "entity is deleted", status=404)
            raise not_found()
        now = self.now()
        row = dict(current)
        row.update(
            IsDeleted=True, LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self.user_id
        )
        self.store.put(obj.name, row)
        self.rules.after_delete(obj.name, row, now, self.user_id)

    def undelete(self, obj: ObjectDef, record_id: str) -> None:
        """Restore a deleted record from the Recycle Bin (Salesforce's `undelete`), as an
        admin does after a record was deleted by mistake."""
        current = self.store.get(obj.name, record_id, include_deleted=True)
        if current is None or not current["IsDeleted"]:
            raise not_found()
        now = self.now()
        row = dict(current)
        row.update(
            IsDeleted=False, LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self.user_id
        )
        self.store.put(obj.name, row)


def _scalar(kind: str, raw: Any) -> Any:
    """boolean, datetime and date values from JSON."""
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"true", "false"}:
            return raw.lower() == "true"
        raise _deserialize(kind, raw)
    if not isinstance(raw, str):
        raise _deserialize(kind, raw)
    try:
        if kind == "datetime":
            return truncate_ms(parse_datetime(raw))
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise _deserialize(kind, raw) from exc


def _number(f: FieldDef, raw: Any) -> float | int:
    """currency, percent, double and int values from JSON numbers or numeric strings,
    rounded to the field's scale as Salesforce stores them."""
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise _deserialize(f.type, raw) from exc
    if not math.isfinite(value):
        raise _deserialize(f.type, raw)
    if f.type == "int":
        if not value.is_integer():
            raise _deserialize(f.type, raw)
        return int(value)
    return round(value, f.scale)


def _deserialize(kind: str, raw: Any) -> RecordFailureError:
    jackson = {bool: "VALUE_TRUE", int: "VALUE_NUMBER_INT", float: "VALUE_NUMBER_FLOAT"}.get(
        type(raw), "VALUE_STRING"
    )
    if isinstance(raw, dict):
        jackson = "START_OBJECT"
    elif isinstance(raw, list):
        jackson = "START_ARRAY"
    elif raw is False:
        jackson = "VALUE_FALSE"
    return RecordFailureError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {jackson} value {raw} or request may be "
        "missing a required field",
    )
