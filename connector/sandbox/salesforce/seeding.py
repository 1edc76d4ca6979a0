"""Loads the shared seed data as Users, Leads and Contacts, and seeded deals as
Opportunities with their contact roles and stage history.

SystemModstamps start a day before now and advance one minute per block of
`BLOCK` rows, so more rows share one modstamp than a query page holds
while later blocks still order by time. A seeded opportunity is created and moved by its
owner at the seed's stage times, through the same rules the API's writes go through, so
its OpportunityHistory and OpportunityFieldHistory rows are the ones those moves make."""

from __future__ import annotations

from datetime import datetime, timedelta

from connector.sandbox.roster import SALESFORCE_QUEUES, SALESFORCE_USERS
from connector.sandbox.salesforce.opportunities import CONTACT_ROLE, OPPORTUNITY, PipelineRules
from connector.sandbox.salesforce.store import Record, Store, truncate_ms
from connector.sandbox.seed import DEAL_LOST, DEAL_WON, SeedContact, SeedData, SeedDeal

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
# canonical deal stage (seed data) -> StageName of the default sales process
DEAL_STAGE = {
    "meeting": "Prospecting",
    "qualified": "Qualification",
    "presentation": "Value Proposition",
    "decision": "Id. Decision Makers",
    "contract": "Negotiation/Review",
    DEAL_WON: "Closed Won",
    DEAL_LOST: "Closed Lost",
}
ROLES = ("Decision Maker", "Influencer")  # the primary contact's role, then the others'


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


# each seeded team works from one zone, so task times differ by owner as in a real org
TEAM_ZONES = {
    "East": "America/New_York",
    "Central": "America/Chicago",
    "West": "America/Los_Angeles",
}


def _roster(store: Store, base: datetime, creator: str) -> None:
    """The users and queues the shipped mapping names, with their fixed ids."""
    for u in SALESFORCE_USERS:
        if store.get("User", u.id) is None:
            row = _audit(store, "User", base, creator)
            row.update(
                Id=u.id,
                FirstName=u.first_name,
                LastName=u.last_name,
                Name=f"{u.first_name} {u.last_name}",
                Email=u.email,
                Username=u.email,
                IsActive=u.active,
                Team__c=u.team,
                TimeZoneSidKey=TEAM_ZONES.get(u.team, "America/New_York"),
            )
            store.put("User", row)
    for q in SALESFORCE_QUEUES:
        if store.get("Group", q.id) is None:
            row = _audit(store, "Group", base, creator)
            row.update(Id=q.id, Name=q.name, DeveloperName=q.developer_name, Type="Queue")
            store.put("Group", row)


def load_seed(
    store: Store, data: SeedData, *, now: datetime, rules: PipelineRules
) -> dict[str, int]:
    """Insert the seed directly (it is valid by construction); returns counts by object."""
    base = truncate_ms(now - timedelta(days=1)).replace(second=0, microsecond=0)
    creator = next(
        (r["Id"] for r in store.rows("User").values() if r.get("Team__c") == "Integration"),
        "",
    )
    _roster(store, base, creator)
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
                TimeZoneSidKey=TEAM_ZONES.get(o.team, "America/New_York"),
            )
            store.put("User", row)
            created["User"] += 1
            existing = row
        owners[o.key] = (existing["Id"], o.team)
    counts = {"Lead": 0, "Contact": 0}
    contact_ids: dict[str, str] = {}
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
            contact_ids[c.key] = row["Id"]
        store.put(name, row)
        created[name] += 1
    if data.deals:
        created[OPPORTUNITY] = created[CONTACT_ROLE] = 0
    for deal in data.deals:
        people = [contact_ids[k] for k in deal.contacts if k in contact_ids]
        if not people:
            continue
        _load_deal(store, rules, deal, contacts=people, owner_id=owners[deal.owner][0], now=now)
        created[OPPORTUNITY] += 1
        created[CONTACT_ROLE] += len(people)
    return created


def _load_deal(
    store: Store,
    rules: PipelineRules,
    deal: SeedDeal,
    *,
    contacts: list[str],
    owner_id: str,
    now: datetime,
) -> None:
    """Create the opportunity at its first stage's time, then move it stage by stage."""
    times = [truncate_ms(now - timedelta(minutes=ago)) for _, ago in deal.stages]
    first = times[0]
    closes = (now + timedelta(days=deal.close_in_days)).date()
    row = _audit(store, OPPORTUNITY, first, owner_id)
    row.update(
        Name=deal.name,
        StageName=DEAL_STAGE[deal.stages[0][0]],
        Amount=float(deal.amount),
        # an eventually closed deal was first expected to close a month after it opened
        CloseDate=(first + timedelta(days=30)).date() if len(deal.stages) > 1 else closes,
        OwnerId=owner_id,
        Type="New Business",
    )
    _save(store, rules, None, row, at=first, user_id=owner_id)
    for i, contact_id in enumerate(contacts):
        role = _audit(store, CONTACT_ROLE, first, owner_id)
        role.update(
            ContactId=contact_id,
            OpportunityId=row["Id"],
            Role=ROLES[min(i, 1)],
            IsPrimary=i == 0,
        )
        store.put(CONTACT_ROLE, role)
    for (stage, _), at in zip(deal.stages[1:], times[1:], strict=True):
        moved = {**row, "StageName": DEAL_STAGE[stage]}
        if stage in {DEAL_WON, DEAL_LOST} or at == times[-1]:
            moved["CloseDate"] = at.date() if stage in {DEAL_WON, DEAL_LOST} else closes
        moved.update(LastModifiedDate=at, LastModifiedById=owner_id, SystemModstamp=at)
        _save(store, rules, row, moved, at=at, user_id=owner_id)
        row = moved


def _save(
    store: Store,
    rules: PipelineRules,
    before: Record | None,
    row: Record,
    *,
    at: datetime,
    user_id: str,
) -> None:
    rules.before_save(OPPORTUNITY, before, row, {})
    store.put(OPPORTUNITY, row)
    rules.after_save(OPPORTUNITY, before, row, at, user_id)
