"""Runs a parsed SOQL query over the store: validates names and literal types against the
schema, plans a SystemModstamp range scan on the sorted index, filters, orders and limits.

Text comparisons are case-insensitive, as in Salesforce; Ids compare exactly."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from connector.sandbox.salesforce.schema import NUMERIC_TYPES, FieldDef, ObjectDef, find_object
from connector.sandbox.salesforce.soql import (
    BoolOp,
    Compare,
    Expr,
    FieldRef,
    InList,
    Literal,
    Not,
    Query,
    SoqlError,
    _error_at,
)
from connector.sandbox.salesforce.store import Record, Store, id18, to_wire

Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

_TEXT = frozenset({"string", "phone", "picklist", "textarea", "email"})
_IDS = frozenset({"id", "reference"})
MAX_OFFSET = 2000


@dataclass(frozen=True, slots=True)
class Column:
    """One selected (or filtered) path, resolved against the schema."""

    path: tuple[str, ...]  # canonical names: ("Name",) or ("Owner", "Name")
    field: FieldDef  # the leaf
    reference: FieldDef | None  # the reference field a relationship goes through


@dataclass(slots=True)
class Result:
    sobject: ObjectDef
    columns: list[Column]
    ids: list[str]
    count_only: bool


class Evaluator:
    def __init__(self, schema: dict[str, ObjectDef], store: Store) -> None:
        self.schema = schema
        self.store = store

    # name resolution -------------------------------------------------------------------
    def _object(self, q: Query) -> ObjectDef:
        obj = find_object(self.schema, q.sobject)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                _error_at(
                    q.text,
                    q.sobject_pos,
                    f"sObject type '{q.sobject}' is not supported. If you are attempting to use "
                    "a custom object, be sure to append the '__c' after the entity name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        return obj

    def column(self, q: Query, obj: ObjectDef, ref: FieldRef) -> Column:
        parts = ref.path.split(".")
        if parts[0].lower() == obj.name.lower() and len(parts) > 1:
            parts = parts[1:]  # `Lead.Email` is the same as `Email`
        if len(parts) == 1:
            f = obj.field(parts[0])
            if f is None:
                raise self._no_column(q, ref, parts[0], obj.name)
            return Column((f.name,), f, None)
        if len(parts) == 2:
            rel = obj.relationship(parts[0])
            if rel is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    _error_at(
                        q.text,
                        ref.pos,
                        f"Didn't understand relationship '{parts[0]}' in field path. If you are "
                        "attempting to use a custom relationship, be sure to append the '__r' "
                        "after the custom relationship name. Please reference your WSDL or the "
                        "describe call for the appropriate names.",
                    ),
                )
            target = self.schema.get(rel.reference_to[0]) if rel.reference_to else None
            leaf = target.field(parts[1]) if target else None
            if target is None or leaf is None:
                raise self._no_column(q, ref, parts[1], target.name if target else rel.name)
            return Column((rel.relationship_name or rel.name, leaf.name), leaf, rel)
        raise self._no_column(q, ref, ref.path, obj.name)

    @staticmethod
    def _no_column(q: Query, ref: FieldRef, name: str, entity: str) -> SoqlError:
        return SoqlError(
            "INVALID_FIELD",
            _error_at(
                q.text,
                ref.pos,
                f"No such column '{name}' on entity '{entity}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            ),
        )

    def getter(self, col: Column) -> Getter:
        name = col.field.name
        if col.reference is None:
            return lambda row: row.get(name)
        ref_name = col.reference.name
        store = self.store

        def via(row: Record) -> Any:
            target_id = row.get(ref_name)
            if target_id is None:
                return None
            target_obj = store.object_for_id(target_id)
            target = store.get(target_obj, target_id) if target_obj else None
            return None if target is None else target.get(name)

        return via

    # literals ----------------------------------------------------------------------------
    def _coerce(self, q: Query, col: Column, lit: Literal) -> Any:
        ftype = col.field.type
        if lit.kind == "null":
            return None
        expected = {
            "boolean": "boolean",
            "datetime": "datetime",
            "date": "date",
        }.get(ftype, "number" if ftype in NUMERIC_TYPES else "string")
        if lit.kind == "number" and expected == "number":
            return lit.value
        if lit.kind != expected:
            quoted = (
                "should be enclosed in quotes"
                if expected == "string"
                else ("should not be enclosed in quotes")
            )
            soap = {"datetime": "dateTime", "number": "int" if ftype == "int" else "double"}.get(
                expected, expected
            )
            raise SoqlError(
                "INVALID_FIELD",
                _error_at(
                    q.text,
                    lit.pos,
                    f"value of filter criterion for field '{col.field.name}' must be of type "
                    f"{soap} and {quoted}",
                ),
            )
        if ftype in _IDS and isinstance(lit.value, str) and len(lit.value) == 15:
            return id18(lit.value)
        return lit.value

    # predicates --------------------------------------------------------------------------
    def predicate(self, q: Query, obj: ObjectDef, expr: Expr) -> Predicate:
        if isinstance(expr, BoolOp):
            parts = [self.predicate(q, obj, e) for e in expr.items]
            if expr.op == "AND":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(expr, Not):
            inner = self.predicate(q, obj, expr.expr)
            return lambda row: not inner(row)
        return self._condition(q, obj, expr)

    def _condition(self, q: Query, obj: ObjectDef, expr: Compare | InList) -> Predicate:
        col = self.column(q, obj, expr.field)
        get = self.getter(col)
        fold = _folder(col.field)
        if isinstance(expr, InList):
            values = {fold(self._coerce(q, col, v)) for v in expr.values}
            if expr.negate:
                return lambda row: fold(get(row)) not in values
            return lambda row: fold(get(row)) in values
        value = self._coerce(q, col, expr.value)
        if expr.op == "LIKE":
            if not isinstance(value, str):
                raise SoqlError(
                    "INVALID_FIELD",
                    _error_at(q.text, expr.value.pos, "invalid operator on field: LIKE"),
                )
            pattern = like_regex(value)
            return lambda row: isinstance(v := get(row), str) and pattern.fullmatch(v) is not None
        target = fold(_unescape(value))
        return _comparison(expr.op, get, fold, target)

    # planning and execution --------------------------------------------------------------
    def check(self, q: Query) -> list[Column]:
        """Name and literal errors now, without running (a Bulk job reports them on create);
        returns the selected columns."""
        obj = self._object(q)
        columns = [self.column(q, obj, f) for f in q.fields]
        if q.where is not None:
            self.predicate(q, obj, q.where)
        for o in q.order:
            self.column(q, obj, o.field)
        return columns

    def run(self, q: Query, *, include_deleted: bool) -> Result:
        if q.offset is not None and q.offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        obj = self._object(q)
        columns = [self.column(q, obj, f) for f in q.fields]
        pred = self.predicate(q, obj, q.where) if q.where is not None else None
        orders = [(self.column(q, obj, o.field), o) for o in q.order]
        low, high = _modstamp_bounds(q.where)
        rows: Iterable[Record]
        index_ordered = _index_order(orders)
        if low is not None or high is not None or index_ordered:
            rows = self.store.by_modstamp(obj.name, low, high)
        else:
            rows = self.store.rows(obj.name).values()
        stop = None
        if q.limit is not None and (index_ordered or not orders):
            stop = q.limit + (q.offset or 0)
        matched: list[Record] = []
        for row in rows:
            if row["IsDeleted"] and not include_deleted:
                continue
            if pred is not None and not pred(row):
                continue
            matched.append(row)
            if stop is not None and len(matched) >= stop:
                break
        if orders and not index_ordered:
            matched.sort(key=cmp_to_key(self._comparator(orders)))
        if q.offset:
            matched = matched[q.offset :]
        if q.limit is not None:
            matched = matched[: q.limit]
        return Result(obj, columns, [r["Id"] for r in matched], q.count)

    def _comparator(self, orders: list[tuple[Column, Any]]) -> Callable[[Record, Record], int]:
        keys = [(self.getter(col), _folder(col.field), o) for col, o in orders]

        def compare(a: Record, b: Record) -> int:
            for get, fold, o in keys:
                va, vb = fold(get(a)), fold(get(b))
                if va == vb:
                    continue
                if va is None or vb is None:
                    return (1 if va is None else -1) * (1 if o.nulls_last else -1)
                result = -1 if va < vb else 1
                return -result if o.descending else result
            return 0

        return compare

    def render(self, result: Result, record_id: str, version: str) -> dict[str, Any] | None:
        """One record as the query endpoints answer it (None when it vanished meanwhile)."""
        row = self.store.get(result.sobject.name, record_id, include_deleted=True)
        if row is None:
            return None
        out: dict[str, Any] = {"attributes": attributes(result.sobject.name, record_id, version)}
        for col in result.columns:
            if col.reference is None:
                out[col.field.name] = to_wire(row.get(col.field.name))
                continue
            rel_key = col.path[0]
            target_id = row.get(col.reference.name)
            target_obj = self.store.object_for_id(target_id) if target_id else None
            target = self.store.get(target_obj, target_id) if target_obj and target_id else None
            if target is None or target_obj is None:
                out[rel_key] = None
                continue
            nested = out.get(rel_key) or {"attributes": attributes(target_obj, target_id, version)}
            nested[col.field.name] = to_wire(target.get(col.field.name))
            out[rel_key] = nested
        return out


def attributes(object_name: str, record_id: Any, version: str) -> dict[str, str]:
    return {
        "type": object_name,
        "url": f"/services/data/v{version}/sobjects/{object_name}/{record_id}",
    }


def like_regex(pattern: str) -> re.Pattern[str]:
    """`%` any run, `_` one character, `\\%` and `\\_` literal; case-insensitive."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\\%", "%").replace("\\_", "_")
    return value


def _folder(f: FieldDef) -> Callable[[Any], Any]:
    if f.type in _TEXT:
        return lambda v: v.casefold() if isinstance(v, str) else v
    return lambda v: v


def _comparison(op: str, get: Getter, fold: Callable[[Any], Any], target: Any) -> Predicate:
    if op == "=":
        return lambda row: fold(get(row)) == target
    if op == "!=":
        return lambda row: fold(get(row)) != target
    if target is None:
        return lambda _row: False

    def ordered(row: Record) -> bool:
        value = fold(get(row))
        if value is None:
            return False
        if op == "<":
            return bool(value < target)
        if op == ">":
            return bool(value > target)
        if op == "<=":
            return bool(value <= target)
        return bool(value >= target)

    return ordered


def _modstamp_bounds(expr: Expr | None) -> tuple[datetime | None, datetime | None]:
    """A range on SystemModstamp that every match lies in, for the sorted-index scan."""
    if expr is None:
        return None, None
    if isinstance(expr, Compare):
        if expr.field.path.lower() != "systemmodstamp" or not isinstance(
            expr.value.value, datetime
        ):
            return None, None
        v = expr.value.value
        return {
            "=": (v, v),
            ">": (v, None),
            ">=": (v, None),
            "<": (None, v),
            "<=": (None, v),
        }.get(expr.op, (None, None))
    if isinstance(expr, BoolOp):
        bounds = [_modstamp_bounds(e) for e in expr.items]
        lows = [b[0] for b in bounds]
        highs = [b[1] for b in bounds]
        if expr.op == "AND":
            known_lows = [x for x in lows if x is not None]
            known_highs = [x for x in highs if x is not None]
            return (
                max(known_lows) if known_lows else None,
                min(known_highs) if known_highs else None,
            )
        low = None if any(x is None for x in lows) else min(x for x in lows if x is not None)
        high = None if any(x is None for x in highs) else max(x for x in highs if x is not None)
        return low, high
    return None, None


def _index_order(orders: list[tuple[Column, Any]]) -> bool:
    """True when ORDER BY is what the (SystemModstamp, Id) index already yields."""
    if not orders:
        return False
    names = [col.path for col, _ in orders]
    if any(o.descending for _, o in orders):
        return False
    return names in (
        [("SystemModstamp",)],
        [("SystemModstamp",), ("Id",)],
    )
