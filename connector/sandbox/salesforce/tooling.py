"""The Tooling API's `CustomField` create (`POST .../tooling/sobjects/CustomField`), the
call an admin's script makes to add a custom field: `{"FullName": "Lead.X__c",
"Metadata": {"type": "Picklist", "label": ..., "valueSet": ...}}`. Enough of it for the
field types smsync maps (Text, Picklist, DateTime, Date, Checkbox; External ID and
Unique flags); anything else is refused the way Salesforce refuses it."""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox.salesforce.api import Call, Reply, error
from connector.sandbox.salesforce.schema import FieldDef, ObjectDef, find_object
from connector.sandbox.salesforce.store import Store, make_id

_TYPES = {
    "Text": "string",
    "Picklist": "picklist",
    "DateTime": "datetime",
    "Date": "date",
    "Checkbox": "boolean",
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")


class ToolingApi:
    def __init__(self, schema: dict[str, ObjectDef], store: Store) -> None:
        self.schema = schema
        self.store = store
        self.created = 0

    def create_field(self, call: Call, _m: re.Match[str]) -> Reply:
        body = call.json()
        if not isinstance(body, dict):
            return error(400, "JSON_PARSER_ERROR", "body must be a JSON object")
        full = str(body.get("FullName") or "")
        given = body.get("Metadata")
        meta: dict[str, Any] = given if isinstance(given, dict) else {}
        obj_name, _, name = full.partition(".")
        obj = find_object(self.schema, obj_name)
        refused = _refusal(obj, obj_name, name, meta)
        if refused is not None:
            return refused
        assert obj is not None
        ftype = _TYPES[str(meta.get("type"))]
        values: tuple[str, ...] = ()
        if ftype == "picklist":
            definition = (meta.get("valueSet") or {}).get("valueSetDefinition") or {}
            values = tuple(str(v.get("fullName")) for v in definition.get("value") or [])
            if not values:
                return error(400, "FIELD_INTEGRITY_EXCEPTION", "Picklist must have values")
        external = bool(meta.get("externalId"))
        unique = bool(meta.get("unique"))
        length = int(meta.get("length") or (255 if ftype in ("string", "picklist") else 0))
        obj.add(
            FieldDef(
                name,
                ftype,
                label=str(meta.get("label") or name),
                length=length,
                picklist=values,
                external_id=external,
                unique=unique,
            )
        )
        if unique:
            self.store.add_unique(obj.name, name)
        self.created += 1
        return Reply(201, {"id": make_id("00N", self.created), "success": True, "errors": []})


def _refusal(obj: ObjectDef | None, obj_name: str, name: str, meta: dict[str, Any]) -> Reply | None:
    """The error Salesforce answers for a field it cannot create, else None."""
    if obj is None:
        return error(400, "INVALID_FIELD", f"Cannot find entity: {obj_name}")
    if not _NAME.match(name):
        return error(400, "FIELD_INTEGRITY_EXCEPTION", f"Invalid custom field name: {name}")
    if obj.field(name) is not None:
        return error(
            400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {name} on {obj.name}."
        )
    if str(meta.get("type")) not in _TYPES:
        return error(
            400, "FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type: {meta.get('type')}"
        )
    return None
