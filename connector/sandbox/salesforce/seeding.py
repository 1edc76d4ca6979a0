"""Loads the shared seed data as Users, Leads and Contacts.

SystemModstamps start a day before now and advance one minute per block of
`BLOCK` rows, so more rows share one modstamp than a query page holds (RELIABILITY
row 10) while later blocks still order by time."""

from __future__ import annotations

from datetime import datetime, timedelta

from connector.sandbox.salesforce.store import Record, Store, truncate_ms
from connector.sandbox.seed import SeedContact, SeedData

BLOCK = 2500
LEAD_STATUS = {
    "subscriber": "Open - Not Contacted",
    "lead": "Open - Not Contacted",
    "mql": "Working - Contacted",
    "sql": "Working - Contacted",
    "opportunity": "Closed - Converted",
    "customer": "Closed - Converted",
}
LIFECYCLE = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "mql": "MQL",
    "sql": "SQL",
    "opportunity": "Opportunity",
    "customer": "Customer",
}
CONSENT = {"opted_in": "Opted_In", "opted_out": "Opted_Out", "unknown": "Unknown"}


def _audit(store: Store, name: str, stamp: datetime, creator: str) -> Record:
    return {
        "Id": store.new_id(name),
        "IsDeleted": False,
        "CreatedDate": stamp,
        "CreatedById": creator,
        "LastModifiedDate": stamp,
        "LastModifiedById": creator,
        "SystemModstamp": stamp,
    }


def _person(c: SeedContact, owner_id: str, team: str, now: datetime) -> Record:
    row: Record = {
        "FirstName": c.first_name,
        "LastName": c.last_name,
        "Name": f"{c.first_name} {c.last_name}",
        "Email": c.email,
        "MobilePhone" if c.mobile else "Phone": c.phone,
        "OwnerId": owner_id,
        "SMS_Journey_State__c": c.journey_state,
        "SMS_Consent_Status__c": CONSENT[c.consent],
        "SMS_Owner_Team__c": team,
        "SMS_SLA_Breached__c": False,
        "LastActivityDate": (now - timedelta(days=c.last_activity_days)).date(),
    }
    if c.renewal_in_days is not None:
        row["Renewal_Date__c"] = (now + timedelta(days=c.renewal_in_days)).date()
    if c.time_zone:
        row["SMS_Time_Zone__c"] = c.time_zone
    return row


def load_seed(store: Store, data: SeedData, *, now: datetime) -> dict[str, int]:
    """Insert the seed directly (it is valid by construction); returns counts by object."""
    base = truncate_ms(now - timedelta(days=1)).replace(second=0, microsecond=0)
    creator = next(
        (r["Id"] for r in store.rows("User").values() if r.get("Team__c") == "Integration"),
        "",
    )
    created = {"User": 0, "Lead": 0, "Contact": 0}
    owners: dict[str, tuple[str, str]] = {}
    for o in data.owners:
        existing = store.by_unique("User", "Username", o.email)
        if existing is None:
            row = _audit(store, "User", base, creator)
            row.update(
                FirstName=o.first_name,
                LastName=o.last_name,
                Name=f"{o.first_name} {o.last_name}",
                Email=o.email,
                Username=o.email,
                IsActive=True,
                Team__c=o.team,
            )
            store.put("User", row)
            created["User"] += 1
            existing = row
        owners[o.key] = (existing["Id"], o.team)
    counts = {"Lead": 0, "Contact": 0}
    for c in data.contacts:
        name = "Lead" if c.kind == "lead" else "Contact"
        stamp = base + timedelta(minutes=counts[name] // BLOCK)
        counts[name] += 1
        owner_id, team = owners[c.owner]
        row = _audit(store, name, stamp, creator)
        row.update(_person(c, owner_id, team, now))
        if name == "Lead":
            row.update(
                Company=c.company,
                Status=LEAD_STATUS[c.stage],
                Industry=c.industry,
                State=c.state,
            )
        else:
            row.update(Lifecycle_Stage__c=LIFECYCLE[c.stage], MailingState=c.state)
        store.put(name, row)
        created[name] += 1
    return created
