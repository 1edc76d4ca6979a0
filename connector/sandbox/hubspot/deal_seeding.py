"""Loads the seed's deals into a portal: each created by its owner in HubSpot at its first
stage's time and moved stage by stage, so `propertiesWithHistory=dealstage` shows the moves
as a rep's (CRM_UI) changes; associated with its contacts (deal -> contact, type 3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connector.sandbox.hubspot.objects import Record, Source
from connector.sandbox.hubspot.pipelines import DEFAULT_PIPELINE
from connector.sandbox.hubspot.properties import CONTACTS, DEALS, iso_ms
from connector.sandbox.seed import DEAL_LOST, DEAL_WON, SeedData

if TYPE_CHECKING:
    from connector.sandbox.hubspot.portal import Portal

DEAL_TO_CONTACT = 3
# canonical deal stage (seed data) -> stage id of the default pipeline
DEAL_STAGE = {
    "meeting": "appointmentscheduled",
    "qualified": "qualifiedtobuy",
    "presentation": "presentationscheduled",
    "decision": "decisionmakerboughtin",
    "contract": "contractsent",
    DEAL_WON: "closedwon",
    DEAL_LOST: "closedlost",
}


def seed_deals(portal: Portal, data: SeedData, now: datetime) -> dict[str, int]:
    store, contacts = portal.stores[DEALS], portal.stores[CONTACTS]
    people_by_key = {c.key: c for c in data.contacts}
    existing = {r.props.get("dealname") for r in store.records.values()}
    created = 0
    for deal in data.deals:
        if deal.name in existing:
            continue  # seeding twice must not duplicate a deal
        found = [contacts.lookup("email", people_by_key[k].email) for k in deal.contacts]
        people: list[Record] = [p for p in found if p is not None and not p.archived]
        owner = portal.owners.by_seed_key.get(deal.owner)
        if not people or owner is None:
            continue
        source = Source.user(owner.user_id)
        times = [now - timedelta(minutes=ago) for _, ago in deal.stages]
        closes = now + timedelta(days=deal.close_in_days)
        first_close = closes if len(times) == 1 else times[0] + timedelta(days=30)
        rec = store.create(
            {
                "dealname": deal.name,
                "amount": str(deal.amount),
                "dealstage": DEAL_STAGE[deal.stages[0][0]],
                "pipeline": DEFAULT_PIPELINE,
                "hubspot_owner_id": owner.id,
                "dealtype": "newbusiness",
                "closedate": iso_ms(first_close),
            },
            iso_ms(times[0]),
            None,
            source,
        )
        for (stage, _), at in zip(deal.stages[1:], times[1:], strict=True):
            change = {"dealstage": DEAL_STAGE[stage]}
            if stage in {DEAL_WON, DEAL_LOST}:
                change["closedate"] = iso_ms(at)
            elif at == times[-1]:
                change["closedate"] = iso_ms(closes)
            store.update(rec, change, iso_ms(at), None, source)
        portal.associations.add(DEALS, rec.id, [(CONTACTS, p.id, DEAL_TO_CONTACT) for p in people])
        created += 1
    return {DEALS: created}
