"""The CRM search endpoint's query language: filter groups, sorts and offset paging.

Filter groups are OR-ed and the filters inside one group AND-ed. Values compare by the
property's type: datetimes as epoch milliseconds (ISO 8601 accepted too), numbers as
numbers, everything else as case-insensitive text, as HubSpot does."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from connector.sandbox.hubspot.errors import HubSpotError, validation_error
from connector.sandbox.hubspot.objects import ObjectStore, Record
from connector.sandbox.hubspot.properties import PropertyDef, parse_when

MAX_BODY_CHARS = 3_000
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000
SEARCH_CACHE_SIZE = 64
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_TEXT_PROPS = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "company",
    "hs_task_subject",
    "hs_communication_body",
    "dealname",
)
_TOKEN = re.compile(r"[\w*]+")

Comparable = float | str


@lru_cache(maxsize=262_144)
def _epoch_ms(text: str) -> float | None:
    when = parse_when(text)
    return when.timestamp() * 1000 if when is not None else None


def _coerce(prop: PropertyDef, raw: str | None) -> Comparable | None:
    if raw is None or raw == "":
        return None
    if prop.type in {"datetime", "date"}:
        return _epoch_ms(raw)
    if prop.type == "number":
        try:
            return float(raw)
        except ValueError:
            return None
    return raw.lower()


@dataclass(frozen=True, slots=True)
class Filter:
    prop: PropertyDef
    operator: str
    value: Comparable | None
    high: Comparable | None
    values: tuple[Comparable | None, ...]
    token: str

    def matches(self, props: dict[str, str]) -> bool:  # noqa: PLR0911 - one arm per operator
        raw = props.get(self.prop.name)
        op = self.operator
        if op == "HAS_PROPERTY":
            return bool(raw)
        if op == "NOT_HAS_PROPERTY":
            return not raw
        if op in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            found = bool(raw) and _has_token(str(raw).lower(), self.token)
            return found if op == "CONTAINS_TOKEN" else not found
        have = _coerce(self.prop, raw)
        if op == "NEQ":
            return have != self.value
        if op == "NOT_IN":
            return have not in self.values
        if have is None:
            return False
        if op == "EQ":
            return have == self.value
        if op == "IN":
            return have in self.values
        return _compare(op, have, self.value, self.high)


def _compare(op: str, have: Comparable, low: Comparable | None, high: Comparable | None) -> bool:
    if low is None or type(have) is not type(low):
        return False
    if op == "BETWEEN":
        return high is not None and type(high) is type(have) and low <= have <= high  # type: ignore[operator]
    if op == "LT":
        return have < low  # type: ignore[operator]
    if op == "LTE":
        return have <= low  # type: ignore[operator]
    if op == "GT":
        return have > low  # type: ignore[operator]
    return have >= low  # type: ignore[operator]  # GTE


def _has_token(text: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(text, pattern):
        return True
    return any(fnmatch.fnmatchcase(t, pattern) for t in _TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class Query:
    groups: tuple[tuple[Filter, ...], ...]
    sorts: tuple[tuple[PropertyDef, bool], ...]  # (property, descending)
    properties: tuple[str, ...] | None
    limit: int
    offset: int
    text: str


def _bad_request() -> HubSpotError:
    """The generic body HubSpot's search answers malformed or out-of-range requests with."""
    return validation_error("There was a problem with the request.")


def _prop(store: ObjectStore, name: Any) -> PropertyDef:
    prop = store.props.get(name) if isinstance(name, str) else None
    if prop is None:
        raise validation_error(f'Property "{name}" does not exist')
    return prop


def _filter(store: ObjectStore, raw: Any) -> Filter:
    if not isinstance(raw, dict):
        raise _bad_request()
    prop = _prop(store, raw.get("propertyName"))
    op = str(raw.get("operator", "EQ")).upper()
    if op not in OPERATORS:
        raise validation_error(f"Unknown filter operator {op}")
    value = raw.get("value")
    text = "" if value is None else str(value).lower()
    if op in {"IN", "NOT_IN"}:
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"Operator {op} requires a non-empty `values` list")
        coerced = tuple(_coerce(prop, str(v)) for v in values)
    else:
        coerced = ()
        needs_value = op not in {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}
        if needs_value and value is None:
            raise validation_error(f"Operator {op} requires a value")
        if op == "BETWEEN" and raw.get("highValue") is None:
            raise validation_error("Operator BETWEEN requires a highValue")
    high = raw.get("highValue")
    return Filter(
        prop,
        op,
        _coerce(prop, None if value is None else str(value)),
        _coerce(prop, None if high is None else str(high)),
        coerced,
        text,
    )


def _sorts(store: ObjectStore, raw: Any) -> tuple[tuple[PropertyDef, bool], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad_request()
    out: list[tuple[PropertyDef, bool]] = []
    for item in raw:
        if isinstance(item, str):
            descending = item.startswith("-")
            out.append((_prop(store, item.lstrip("-")), descending))
        elif isinstance(item, dict):
            direction = str(item.get("direction", "ASCENDING")).upper()
            if direction not in {"ASCENDING", "DESCENDING"}:
                raise validation_error(f"Unknown sort direction {direction}")
            out.append((_prop(store, item.get("propertyName")), direction == "DESCENDING"))
        else:
            raise _bad_request()
    return tuple(out)


def parse(store: ObjectStore, raw_body: bytes) -> Query:
    """A validated query, or the 400 HubSpot answers the request with."""
    text = raw_body.decode("utf-8", errors="replace")
    if len(text) > MAX_BODY_CHARS:
        raise validation_error(
            f"Search request body is {len(text)} characters; the maximum is {MAX_BODY_CHARS}"
        )
    try:
        body = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise validation_error(f"Invalid input JSON on line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise _bad_request()
    groups_raw = body.get("filterGroups") or []
    if not isinstance(groups_raw, list) or len(groups_raw) > MAX_GROUPS:
        raise validation_error(f"Search allows at most {MAX_GROUPS} filterGroups")
    groups: list[tuple[Filter, ...]] = []
    total = 0
    for group in groups_raw:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"A filterGroup holds at most {MAX_FILTERS_PER_GROUP} filters")
        total += len(filters)
        groups.append(tuple(_filter(store, f) for f in filters))
    if total > MAX_FILTERS:
        raise validation_error(f"Search allows at most {MAX_FILTERS} filters in total")
    limit = body.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
    after = body.get("after") or "0"
    try:
        offset = int(str(after))
    except ValueError as exc:
        raise _bad_request() from exc
    if offset < 0 or offset >= RESULT_CAP:
        raise _bad_request()
    props = body.get("properties")
    properties = tuple(str(p) for p in props) if isinstance(props, list) and props else None
    query = body.get("query")
    return Query(
        tuple(groups),
        _sorts(store, body.get("sorts")),
        properties,
        limit,
        offset,
        str(query).lower().strip() if query else "",
    )


def _matches(query: Query, props: dict[str, str]) -> bool:
    if query.text and not any(query.text in props.get(p, "").lower() for p in _TEXT_PROPS):
        return False
    if not query.groups:
        return True
    return any(all(f.matches(props) for f in group) for group in query.groups)


def run(
    store: ObjectStore, query: Query, now_ts: float
) -> tuple[int, list[tuple[Record, dict[str, str]]], int | None]:
    """(total, this page, next offset) over what the index shows at `now_ts`.

    Paging re-asks the same query with a new offset, so the sorted hits are cached until
    the store changes; not while writes wait for the index, since time then matters."""
    key = (query.groups, query.sorts, query.text)
    hits = store.search_cache.get(key)
    if hits is None:
        hits = _hits(store, query, now_ts)
        if not store.has_pending():
            if len(store.search_cache) >= SEARCH_CACHE_SIZE:
                store.search_cache.clear()
            store.search_cache[key] = hits
    total = len(hits)
    end = min(query.offset + query.limit, total, RESULT_CAP)
    page = hits[query.offset : end]
    next_offset = end if end < total else None
    return total, page, next_offset


def _hits(store: ObjectStore, query: Query, now_ts: float) -> list[tuple[Record, dict[str, str]]]:
    hits = [(rec, props) for rec, props in store.searchable(now_ts) if _matches(query, props)]
    for prop, descending in reversed(query.sorts):
        zero: Comparable = 0.0 if prop.type in {"number", "datetime", "date"} else ""

        def key(
            item: tuple[Record, dict[str, str]],
            prop: PropertyDef = prop,
            zero: Comparable = zero,
            descending: bool = descending,
        ) -> tuple[bool, Comparable]:
            value = _coerce(prop, item[1].get(prop.name))
            if value is None:  # unset values sort last either way
                return not descending, zero
            return descending, value

        if prop.name == "hs_object_id" and not descending:
            continue  # records are held in id order already
        hits.sort(key=key, reverse=descending)
    return hits
