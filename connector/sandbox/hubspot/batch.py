"""Batch read, create, update, upsert and archive, with HubSpot's all-or-nothing validation
and per-record failures.

Malformed input fails the whole batch with 400, as HubSpot does; an injected record fault,
a taken unique value or a missing id fails only that input, inside a 207 whose body the
SDK turns into a `...WithErrors` model.

History costs: a read asking for `propertiesWithHistory` may hold at most
`MAX_HISTORY_INPUTS` ids (HubSpot documents that history lowers how many objects one request
can read; 50 is the figure integrations report, and the stricter bound is the safe one)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.sandbox.hubspot.errors import HubSpotError, record_error, validation_error
from connector.sandbox.hubspot.objects import LABELS, ObjectStore, Record
from connector.sandbox.hubspot.portal import VENDOR, Portal
from connector.sandbox.hubspot.properties import check_writable, must_be_list, must_be_object

MAX_INPUTS = 100
MAX_HISTORY_INPUTS = 50
MAX_ASSOCIATION_INPUTS = 1000  # v4 associations batch read, since February 2025


def inputs_of(body: dict[str, Any], limit: int = MAX_INPUTS) -> list[dict[str, Any]]:
    inputs = must_be_list(body.get("inputs"), "inputs")
    if len(inputs) > limit:
        raise validation_error(f"The maximum number of inputs supported in a batch is {limit}")
    return [must_be_object(i, "each input") for i in inputs]


def names_of(body: dict[str, Any], key: str) -> list[str]:
    raw = body.get(key)
    return [str(p) for p in raw] if isinstance(raw, list) else []


def _conflict_fault(portal: Portal) -> None:
    """The whole-batch 409 fault: nothing is written."""
    if portal.state.faults.take(VENDOR, "batch_conflicts"):
        portal.state.stats.fault(VENDOR, "batch_conflict")
        raise HubSpotError(
            409,
            "Conflict: another request is modifying these records. Retry the request.",
            "CONFLICT",
        )


def _no_duplicates(keys: list[str]) -> None:
    dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
    if dupes:
        raise validation_error(
            f"Duplicate IDs found in batch input: {dupes}. IDs must be unique",
            context={"ids": dupes},
        )


def respond(
    portal: Portal,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    started: str,
    ok: int,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": portal.stamp(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return ok, body


def _trace(item: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    trace = item.get("objectWriteTraceId")
    if trace is not None:
        out["objectWriteTraceId"] = str(trace)
    return out


def _fault_error(code: str, message: str, key: str) -> dict[str, Any]:
    return record_error(code, message, context={"ids": [key]}, record_id=key)


def no_associations(from_type: str, to_type: str, key: str) -> dict[str, Any]:
    """The v4 batch read's error for an id without associations of that type."""
    return record_error(
        "OBJECT_NOT_FOUND",
        f"No {LABELS[to_type].lower()} is associated with {LABELS[from_type].lower()} {key}.",
        context={"fromObjectId": [key]},
    )


def read(portal: Portal, store: ObjectStore, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    started = portal.stamp()
    history = names_of(body, "propertiesWithHistory")
    inputs = inputs_of(body, MAX_HISTORY_INPUTS if history else MAX_INPUTS)
    id_property = body.get("idProperty") or None
    wanted = names_of(body, "properties") or None
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    seen: set[str] = set()
    for item in inputs:
        key = str(item.get("id", ""))
        rec = portal.resolve(store, key, id_property)
        if rec is None:
            missing.append(key)
        elif rec.id not in seen:
            seen.add(rec.id)
            results.append(store.to_api(rec, wanted, history=history))
    errors = []
    if missing:
        errors.append(
            record_error(
                "OBJECT_NOT_FOUND",
                f"Could not get some {store.label} objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                context={"ids": missing},
            )
        )
    return respond(portal, results, errors, started, 200)


def create(portal: Portal, store: ObjectStore, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    started = portal.stamp()
    inputs = inputs_of(body)
    prepared = [portal.prepare_create(store, item) for item in inputs]
    _conflict_fault(portal)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    stamp, visible_at = portal.stamp(), portal.visible_at()
    for item, (values, links) in zip(inputs, prepared, strict=True):
        key = next((k for k in portal.fault_keys(values) if k), "")
        fault = portal.fault_for(key)
        if fault is not None:
            errors.append(_fault_error(fault.code, fault.message, key))
            continue
        clash = portal.conflict_error(store, values, None)
        if clash is not None:
            errors.append(record_error("CONFLICT", clash[0], context=clash[1]))
            continue
        rec = store.create(values, stamp, visible_at)
        portal.associations.add(store.name, rec.id, links)
        portal.activity_logged(store, links)
        results.append(_trace(item, store.to_api(rec, full=True)))
    portal.wrote(store, len(results))
    return respond(portal, results, errors, started, 201)


def update(portal: Portal, store: ObjectStore, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    started = portal.stamp()
    inputs = inputs_of(body)
    keys = [str(item.get("id", "")) for item in inputs]
    _no_duplicates(keys)
    prepared = [
        check_writable(
            store.props, must_be_object(i.get("properties", {}), "properties"), creating=False
        )
        for i in inputs
    ]
    _conflict_fault(portal)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    stamp, visible_at = portal.stamp(), portal.visible_at()
    for item, key, values in zip(inputs, keys, prepared, strict=True):
        rec = portal.resolve(store, key, item.get("idProperty") or None)
        if rec is None:
            errors.append(
                record_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {store.label} objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    context={"ids": [key]},
                    record_id=key,
                )
            )
            continue
        outcome = _write(
            portal, store, rec, key=key, values=values, stamp=stamp, visible_at=visible_at
        )
        if isinstance(outcome, Record):
            results.append(_trace(item, store.to_api(outcome, full=True)))
        else:
            errors.append(outcome)
    portal.wrote(store, len(results))
    return respond(portal, results, errors, started, 200)


def _write(
    portal: Portal,
    store: ObjectStore,
    rec: Record,
    *,
    key: str,
    values: dict[str, str],
    stamp: str,
    visible_at: float | None,
) -> Record | dict[str, Any]:
    """Update one existing record, or the per-record error that stops it."""
    fault = portal.fault_for(key, rec.id, rec.props.get("smsync_external_id"))
    if fault is not None:
        return _fault_error(fault.code, fault.message, key)
    clash = portal.conflict_error(store, values, rec.id)
    if clash is not None:
        return record_error("CONFLICT", clash[0], context=clash[1], record_id=key)
    return store.update(rec, values, stamp, visible_at)


def upsert(portal: Portal, store: ObjectStore, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    started = portal.stamp()
    inputs = inputs_of(body)
    keys = [str(item.get("id", "")) for item in inputs]
    _no_duplicates(keys)
    prepared: list[tuple[str, dict[str, str]]] = []
    for item, key in zip(inputs, keys, strict=True):
        id_property = str(item.get("idProperty") or "hs_object_id")
        values = check_writable(
            store.props, must_be_object(item.get("properties", {}), "properties"), creating=False
        )
        # a non-unique idProperty, or a create missing a required value, fails the batch
        if store.lookup(id_property, key) is None and id_property != "hs_object_id":
            full = {**values, id_property: key}
            for prop in store.props.values():
                if prop.required and not full.get(prop.name):
                    raise validation_error(
                        f"{prop.name} is a required property for new {store.label.lower()}s"
                    )
        prepared.append((id_property, values))
    _conflict_fault(portal)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    stamp, visible_at = portal.stamp(), portal.visible_at()
    for item, key, (id_property, values) in zip(inputs, keys, prepared, strict=True):
        rec = store.lookup(id_property, key)
        if rec is not None:
            outcome = _write(
                portal, store, rec, key=key, values=values, stamp=stamp, visible_at=visible_at
            )
            if isinstance(outcome, Record):
                results.append(_trace(item, {**store.to_api(outcome, full=True), "new": False}))
            else:
                errors.append(outcome)
            continue
        created = _upsert_create(
            portal,
            store,
            key=key,
            id_property=id_property,
            values=values,
            stamp=stamp,
            visible_at=visible_at,
        )
        if isinstance(created, Record):
            results.append(_trace(item, {**store.to_api(created, full=True), "new": True}))
        else:
            errors.append(created)
    portal.wrote(store, len(results))
    return respond(portal, results, errors, started, 200)


def _upsert_create(
    portal: Portal,
    store: ObjectStore,
    *,
    key: str,
    id_property: str,
    values: dict[str, str],
    stamp: str,
    visible_at: float | None,
) -> Record | dict[str, Any]:
    if id_property == "hs_object_id":
        return record_error(
            "OBJECT_NOT_FOUND",
            f"{store.label} {key} does not exist and cannot be created by record id",
            context={"ids": [key]},
            record_id=key,
        )
    fault = portal.fault_for(key)
    if fault is not None:
        return _fault_error(fault.code, fault.message, key)
    full = {**values, id_property: key}
    clash = portal.conflict_error(store, full, None)
    if clash is not None:
        return record_error("CONFLICT", clash[0], context=clash[1], record_id=key)
    return store.create(full, stamp, visible_at)


def archive(portal: Portal, store: ObjectStore, body: dict[str, Any]) -> None:
    inputs = inputs_of(body)
    _conflict_fault(portal)
    stamp = portal.stamp()
    done = 0
    for item in inputs:
        rec = store.get(str(item.get("id", "")))
        if rec is not None and not rec.archived:
            store.archive(rec, stamp)
            done += 1
    portal.wrote(store, done)
