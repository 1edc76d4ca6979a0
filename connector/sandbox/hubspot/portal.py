"""One HubSpot account ("portal"): object stores, schema, owners, associations, limits and
the sandbox knobs, with the single-record operations the routes call.

Operations raise `HubSpotError` for whole-request failures; batch operations live in
`batch.py` and share the helpers here."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.core import SandboxState
from connector.sandbox.faults import RecordErrorSpec
from connector.sandbox.hubspot.associations import AssociationStore, Link
from connector.sandbox.hubspot.deal_seeding import seed_deals
from connector.sandbox.hubspot.errors import HubSpotError, not_found, validation_error
from connector.sandbox.hubspot.limits import LimitConfig, RateLimiter
from connector.sandbox.hubspot.objects import TYPE_ALIASES, ObjectStore, Record, object_type
from connector.sandbox.hubspot.owners import OwnerDirectory
from connector.sandbox.hubspot.properties import (
    CONTACTS,
    ENGAGEMENTS,
    Option,
    check_writable,
    default_properties,
    define,
    iso_ms,
    must_be_object,
    non_unique,
)
from connector.sandbox.roster import HUBSPOT_OWNERS
from connector.sandbox.seed import SeedData

VENDOR = "hubspot"
LIST_MAX = 100
LIST_HISTORY_MAX = 50  # a list page that carries property history is smaller
# canonical stage (seed data) -> HubSpot lifecyclestage option
STAGE_MAP = {
    "subscriber": "subscriber",
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
}
LAST_ACTIVITY = "notes_last_updated"
SEED_SPACING_S = 5  # seeded contacts' lastmodifieddate steps back this far apart


class Portal:
    def __init__(self, state: SandboxState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url
        self.limiter = RateLimiter()
        self.reset()

    def reset(self) -> None:
        """A fresh account: default schema, no records, default tier and knobs."""
        self.refuse_engagement_unique = False
        self.index_delay_s = 0.0
        self.token_revoked = False
        self.limiter.config = LimitConfig()
        self.limiter.reset()
        schema = default_properties(dict.fromkeys(TYPE_ALIASES.values(), True))
        self.stores = {name: ObjectStore(name, props) for name, props in schema.items()}
        self.associations = AssociationStore()
        self.owners = OwnerDirectory()

    # clock and knobs -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.state.clock.now()

    def stamp(self) -> str:
        return iso_ms(self.now())

    def visible_at(self) -> float | None:
        """When a write made now joins the search index (None: at once)."""
        if self.index_delay_s <= 0:
            return None
        return self.now().timestamp() + self.index_delay_s

    def set_refuse_engagement_unique(self, refuse: bool, *, reset_existing: bool = True) -> None:
        """Model accounts that refuse unique-value properties on tasks and communications."""
        self.refuse_engagement_unique = refuse
        if refuse and reset_existing:
            for name in ENGAGEMENTS:
                store = self.stores[name]
                store.props = {n: non_unique(p) if p.unique else p for n, p in store.props.items()}
                store.reindex_unique()

    def store(self, raw: str) -> ObjectStore:
        return self.stores[object_type(raw)]

    @staticmethod
    def fault_keys(values: dict[str, str]) -> tuple[str | None, ...]:
        """What a per-record fault on a create may be keyed by (deals have only a name)."""
        return (values.get("smsync_external_id"), values.get("email"), values.get("dealname"))

    def fault_for(self, *keys: str | None) -> RecordErrorSpec | None:
        """The per-record fault set for any of these keys; counted, since it will apply."""
        spec = self.state.faults.record_error(VENDOR, *[k for k in keys if k])
        if spec is not None:
            self.state.stats.fault(VENDOR, "record_error")
        return spec

    def wrote(self, store: ObjectStore, n: int) -> None:
        self.state.record_writes(VENDOR, store.name, n)

    # single-record operations ------------------------------------------------------------

    def resolve(self, store: ObjectStore, key: str, id_property: str | None) -> Record | None:
        if id_property and id_property != "hs_object_id":
            return store.lookup(id_property, key)
        rec = store.get(key)
        return rec if rec is not None and not rec.archived else None

    def read(
        self,
        store: ObjectStore,
        key: str,
        *,
        properties: list[str] | None,
        id_property: str | None,
        associations: list[str],
        archived: bool,
        history: list[str] | None = None,
    ) -> dict[str, Any]:
        rec = self.resolve(store, key, id_property)
        if rec is None and archived:
            found = store.get(key)
            rec = found if found is not None and found.archived else None
        if rec is None:
            raise not_found(store.label, key)
        out = store.to_api(rec, properties, history=history or ())
        return self.with_associations(store, rec, out, associations)

    def with_associations(
        self, store: ObjectStore, rec: Record, out: dict[str, Any], to_types: list[str]
    ) -> dict[str, Any]:
        blocks: dict[str, Any] = {}
        for raw in to_types:
            name = TYPE_ALIASES.get(raw.lower())
            if name is None:
                continue
            block = self.associations.v3_block(store.name, rec.id, name)
            if block["results"]:
                blocks[name] = block
        if blocks:
            out["associations"] = blocks
        return out

    def prepare_create(
        self, store: ObjectStore, item: dict[str, Any]
    ) -> tuple[dict[str, str], list[Link]]:
        values = check_writable(
            store.props, must_be_object(item.get("properties", {}), "properties"), creating=True
        )
        links = self.associations.parse_inline(store.name, item.get("associations"), self.stores)
        return values, links

    def activity_logged(self, store: ObjectStore, links: list[Link]) -> None:
        """HubSpot moves a contact's "Last Activity Date" (notes_last_updated) when an
        engagement is logged against it; the contact's lastmodifieddate moves with it."""
        if store.name not in ENGAGEMENTS:
            return
        contacts = self.stores[CONTACTS]
        stamp = self.stamp()
        for to_type, to_id, _ in links:
            rec = contacts.get(to_id) if to_type == CONTACTS else None
            if rec is not None and not rec.archived:
                contacts.update(rec, {LAST_ACTIVITY: stamp}, stamp, self.visible_at())

    def conflict_error(
        self, store: ObjectStore, values: dict[str, str], exclude: str | None
    ) -> tuple[str, dict[str, list[str]]] | None:
        """HubSpot's message and context when a unique value is already taken."""
        clash = store.conflict(values, exclude)
        if clash is None:
            return None
        prop, value, existing = clash
        if prop == "email":
            message = f"{store.label.title()} already exists. Existing ID: {existing}"
        else:
            message = (
                f"A {store.label.lower()} with {prop} {value!r} already exists. "
                f"Existing ID: {existing}"
            )
        return message, {"existingId": [existing], "propertyName": [prop]}

    def create_one(self, store: ObjectStore, body: dict[str, Any]) -> dict[str, Any]:
        values, links = self.prepare_create(store, body)
        fault = self.fault_for(*self.fault_keys(values))
        if fault is not None:
            raise HubSpotError(fault.status, fault.message, fault.code)
        clash = self.conflict_error(store, values, None)
        if clash is not None:
            raise HubSpotError(409, clash[0], "CONFLICT", context=clash[1])
        rec = store.create(values, self.stamp(), self.visible_at())
        self.associations.add(store.name, rec.id, links)
        self.activity_logged(store, links)
        self.wrote(store, 1)
        return store.to_api(rec, full=True)

    def update_one(
        self, store: ObjectStore, key: str, body: dict[str, Any], id_property: str | None
    ) -> dict[str, Any]:
        rec = self.resolve(store, key, id_property)
        if rec is None:
            raise not_found(store.label, key)
        values = check_writable(
            store.props, must_be_object(body.get("properties", {}), "properties"), creating=False
        )
        fault = self.fault_for(key, rec.id, rec.props.get("smsync_external_id"))
        if fault is not None:
            raise HubSpotError(fault.status, fault.message, fault.code)
        clash = self.conflict_error(store, values, rec.id)
        if clash is not None:
            raise HubSpotError(409, clash[0], "CONFLICT", context=clash[1])
        store.update(rec, values, self.stamp(), self.visible_at())
        self.wrote(store, 1)
        return store.to_api(rec, full=True)

    def archive_one(self, store: ObjectStore, key: str) -> None:
        rec = store.get(key)
        if rec is not None and not rec.archived:
            store.archive(rec, self.stamp())
            self.wrote(store, 1)

    def list_page(
        self,
        store: ObjectStore,
        *,
        limit: int,
        after: str | None,
        properties: list[str] | None,
        archived: bool,
        associations: list[str],
        path: str,
        history: list[str] | None = None,
    ) -> dict[str, Any]:
        try:
            start = int(after) if after else 0
        except ValueError as exc:
            raise validation_error(f"after must be a numeric cursor, got {after!r}") from exc
        if history and limit > LIST_HISTORY_MAX:
            raise validation_error(
                f"limit must be at most {LIST_HISTORY_MAX} when propertiesWithHistory is "
                f"requested, got {limit}"
            )
        limit = max(1, min(limit, LIST_MAX))
        records, next_after = store.page(start, limit, archived=archived)
        out: dict[str, Any] = {
            "results": [
                self.with_associations(
                    store, r, store.to_api(r, properties, history=history or ()), associations
                )
                for r in records
            ]
        }
        if next_after is not None:
            link = f"{self.base_url}{path}?limit={limit}&after={next_after}"
            out["paging"] = {"next": {"after": str(next_after), "link": link}}
        return out

    # properties --------------------------------------------------------------------------

    def property_list(self, store: ObjectStore) -> dict[str, Any]:
        return {"results": [p.to_api() for _, p in sorted(store.props.items())]}

    def property_get(self, store: ObjectStore, name: str) -> dict[str, Any]:
        prop = store.props.get(name)
        if prop is None:
            raise HubSpotError(
                404,
                f"Unable to find property with name: {name}",
                "OBJECT_NOT_FOUND",
                context={"propertyName": [name]},
            )
        return prop.to_api()

    def property_update(
        self, store: ObjectStore, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """PATCH: a new label or, for an enumeration, the whole list of options."""
        self.property_get(store, name)  # 404 when unknown
        prop = store.props[name]
        changes: dict[str, Any] = {}
        if isinstance(body.get("label"), str):
            changes["label"] = body["label"]
        if isinstance(body.get("options"), list):
            if prop.type != "enumeration":
                raise validation_error(f"Property {name} of type {prop.type} has no options")
            options = tuple(
                Option(str(o.get("value", "")), str(o.get("label", o.get("value", ""))))
                for o in body["options"]
                if isinstance(o, dict)
            )
            changes.update(options=options, option_values=frozenset(o.value for o in options))
        store.props[name] = replace(prop, **changes)
        return store.props[name].to_api()

    def property_create(self, store: ObjectStore, body: dict[str, Any]) -> dict[str, Any]:
        prop = define(body, self.now())
        if prop.name in store.props:
            raise HubSpotError(
                409,
                f"Property named '{prop.name}' already exists.",
                "OBJECT_ALREADY_EXISTS",
                context={"name": [prop.name]},
            )
        if prop.unique and store.name in ENGAGEMENTS and self.refuse_engagement_unique:
            raise validation_error(
                f"Unique value properties are not supported for object type {store.label}",
                context={"objectType": [store.label], "propertyName": [prop.name]},
                subCategory="PropertyValidationError.UNIQUE_VALUE_NOT_SUPPORTED",
            )
        store.props = {**store.props, prop.name: prop}
        if prop.unique:
            store.reindex_unique()
        return prop.to_api()

    # seeding -----------------------------------------------------------------------------

    def seed(self, data: SeedData) -> dict[str, int]:
        """Owners plus contacts, with lastmodifieddate spread SEED_SPACING_S apart so that
        more than 10,000 can fall inside one day's window; then the seed's deals."""
        now = self.now()
        stamp = iso_ms(now)
        owners_before = len(self.owners.by_seed_key)
        for roster_owner in HUBSPOT_OWNERS:
            self.owners.add_fixed(roster_owner, stamp)
        for seed_owner in data.owners:
            self.owners.add(seed_owner, stamp)
        store = self.stores[CONTACTS]
        created = 0
        total = len(data.contacts)
        for i, c in enumerate(data.contacts):
            if store.conflict({"email": c.email}) is not None:
                continue  # seeding twice must not duplicate anyone
            owner = self.owners.by_seed_key.get(c.owner)
            values = {
                "firstname": c.first_name,
                "lastname": c.last_name,
                "email": c.email,
                "company": c.company,
                "industry": c.industry,
                "state": c.state,
                "lifecyclestage": STAGE_MAP.get(c.stage, "other"),
                ("mobilephone" if c.mobile else "phone"): c.phone,
                "smsync_journey_state": c.journey_state,
                "smsync_consent_status": c.consent,
                "notes_last_updated": iso_ms(now - timedelta(days=c.last_activity_days)),
            }
            if owner is not None:
                values["hubspot_owner_id"] = owner.id
                values["smsync_owner_team"] = owner.team
            if c.time_zone:
                values["hs_timezone"] = c.time_zone
            if c.renewal_in_days is not None:
                renews = now + timedelta(days=c.renewal_in_days)
                values["renewal_date"] = renews.date().isoformat()
            modified = now - timedelta(seconds=SEED_SPACING_S * (total - i))
            created_at = modified - timedelta(days=30)
            rec = store.create(values, iso_ms(created_at), None)
            store.update(rec, {}, iso_ms(modified), None)
            created += 1
        out = {"owners": len(self.owners.by_seed_key) - owners_before, CONTACTS: created}
        if data.deals:
            out.update(seed_deals(self, data, now))
        return out
