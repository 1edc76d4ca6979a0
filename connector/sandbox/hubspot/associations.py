"""Associations between records, kept in both directions with HubSpot-defined type ids.

A type id belongs to one ordered pair of object types (204 task -> contact, 203 the
reverse; 81 communication -> contact, 82 the reverse; 3 deal -> contact, 4 the reverse), so
an inline association names its target type through the id it uses."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from connector.sandbox.hubspot.errors import validation_error
from connector.sandbox.hubspot.objects import LABELS, ObjectStore
from connector.sandbox.hubspot.properties import COMMUNICATIONS, CONTACTS, DEALS, TASKS

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
# type id -> (from type, to type, name)
TYPES: dict[int, tuple[str, str, str]] = {
    204: (TASKS, CONTACTS, "task_to_contact"),
    203: (CONTACTS, TASKS, "contact_to_task"),
    81: (COMMUNICATIONS, CONTACTS, "communication_to_contact"),
    82: (CONTACTS, COMMUNICATIONS, "contact_to_communication"),
    3: (DEALS, CONTACTS, "deal_to_contact"),
    4: (CONTACTS, DEALS, "contact_to_deal"),
}
REVERSE = {204: 203, 203: 204, 81: 82, 82: 81, 3: 4, 4: 3}

Link = tuple[str, str, int]  # (to type, to id, type id)


class AssociationStore:
    def __init__(self) -> None:
        # (type, id) -> to type -> to id -> type ids
        self._links: dict[tuple[str, str], dict[str, dict[str, set[int]]]] = defaultdict(
            lambda: defaultdict(dict)
        )

    def reset(self) -> None:
        self._links.clear()

    def parse_inline(self, from_type: str, raw: Any, stores: dict[str, ObjectStore]) -> list[Link]:
        """Validated inline associations of a create input, or HubSpot's 400."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise validation_error("Invalid input JSON: associations must be an array")
        links: list[Link] = []
        for item in raw:
            to = item.get("to") if isinstance(item, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if not isinstance(to, dict) or not isinstance(types, list) or not types:
                raise validation_error(
                    "Invalid input JSON: each association needs `to.id` and `types`"
                )
            to_id = str(to.get("id", ""))
            for spec in types:
                category = spec.get("associationCategory") if isinstance(spec, dict) else None
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                if category != HUBSPOT_DEFINED or not isinstance(type_id, int):
                    raise validation_error(
                        f"association category {category!r} with type id {type_id!r} is not "
                        "supported"
                    )
                pair = TYPES.get(type_id)
                if pair is None or pair[0] != from_type:
                    raise validation_error(
                        f"{type_id} is not a valid association type id for "
                        f"{LABELS[from_type]} objects",
                        subCategory="crm.associations.INVALID_ASSOCIATION_TYPE",
                    )
                target = stores[pair[1]].get(to_id)
                if target is None or target.archived:
                    raise validation_error(
                        f"One or more associations are invalid: {LABELS[pair[1]]} {to_id} "
                        "does not exist",
                        context={"toObjectId": [to_id]},
                        subCategory="crm.associations.INVALID_OBJECT_IDS",
                    )
                links.append((pair[1], to_id, type_id))
        return links

    def add(self, from_type: str, from_id: str, links: list[Link]) -> None:
        for to_type, to_id, type_id in links:
            self._links[(from_type, from_id)][to_type].setdefault(to_id, set()).add(type_id)
            reverse = self._links[(to_type, to_id)][from_type].setdefault(from_id, set())
            reverse.add(REVERSE[type_id])

    def default_type(self, from_type: str, to_type: str) -> int | None:
        """The HUBSPOT_DEFINED type id of the pair, as `associations/default` uses it."""
        return next((t for t, (f, to, _) in TYPES.items() if (f, to) == (from_type, to_type)), None)

    def of(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """(to id, type ids) in ascending id order."""
        found = self._links.get((from_type, from_id))
        if not found or to_type not in found:
            return []
        return [(tid, sorted(ids)) for tid, ids in sorted(found[to_type].items(), key=_num)]

    def v4_result(self, to_id: str, type_ids: list[int]) -> dict[str, Any]:
        return {
            "toObjectId": int(to_id),
            "associationTypes": [
                {"category": HUBSPOT_DEFINED, "typeId": t, "label": None} for t in type_ids
            ],
        }

    def v3_block(self, from_type: str, from_id: str, to_type: str) -> dict[str, Any]:
        """`associations.{to}` on a v3 object read."""
        results = [
            {"id": tid, "type": TYPES[t][2]}
            for tid, type_ids in self.of(from_type, from_id, to_type)
            for t in type_ids
        ]
        return {"results": results}


def _num(item: tuple[str, set[int]]) -> int:
    return int(item[0])
