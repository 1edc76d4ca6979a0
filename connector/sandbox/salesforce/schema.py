"""The org's objects and fields: what describe answers and what writes and SOQL validate.

Field names are matched case-insensitively, as Salesforce does; responses always use the
canonical API name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# id, string, phone, picklist, datetime, date, boolean, reference, textarea, email,
# currency, percent, double, int, anyType (the OldValue/NewValue of field history)
FieldType = str
NUMERIC_TYPES = frozenset({"currency", "percent", "double", "int"})

SMS_JOURNEY = ("New", "Engaged", "Nurture", "Meeting_Booked", "Closed")
SMS_DISPOSITIONS = (
    "Interested",
    "Confirmed",
    "Reschedule_Requested",
    "Pricing_Question",
    "Not_Now",
    "Wrong_Number",
    "Opted_Out",
    "Help",
    "Unclassified",
)
SMS_CONSENT = ("Opted_In", "Opted_Out", "Unknown")
SMS_CONSENT_SOURCES = ("Keyword", "Web_Form", "Import", "Manual", "Provider_Block", "CRM")
# the standard values plus MQL, as an admin adds it for the shipped speed-to-lead play
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "MQL",
    "Closed - Converted",
    "Closed - Not Converted",
)
LIFECYCLE_STAGES = ("Subscriber", "Lead", "MQL", "SQL", "Opportunity", "Customer", "Disqualified")
# the standard values plus "Send SMS", as an admin adds it for texting back from the CRM
TASK_STATUSES = (
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
    "Send SMS",
)
TASK_PRIORITIES = ("High", "Normal", "Low")
TASK_TYPES = ("Call", "Email", "Meeting", "Other", "SMS")  # SMS: the org's own value
TASK_SUBTYPES = ("Task", "Email", "Call")
USER_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "GMT",
)

# the audit fields every record carries; the API can read them but never write them
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass(slots=True)
class FieldDef:
    name: str
    type: FieldType
    label: str = ""
    length: int = 0
    picklist: tuple[str, ...] = ()
    default_value: str | None = None
    required: bool = False  # REQUIRED_FIELD_MISSING on create when absent or null
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0  # currency, percent, double: digits in all
    scale: int = 0  # ... of which after the point

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in {"id", "boolean"} and self.createable

    def describe(self) -> dict[str, Any]:
        """The field entry of `GET /sobjects/{T}/describe`."""
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "custom": self.custom,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "filterable": True,
            "sortable": self.type != "textarea",
            "groupable": self.type not in NUMERIC_TYPES | {"textarea", "anyType", "datetime"},
            "defaultedOnCreate": self.type == "boolean" or not self.createable,
            "calculated": False,
            "restrictedPicklist": self.type == "picklist",
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default_value,
                    "label": value.replace("_", " "),
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "double": "xsd:double",
    "int": "xsd:int",
    "anyType": "xsd:anyType",
}


@dataclass(slots=True)
class ObjectDef:
    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    _lower: dict[str, FieldDef] = field(default_factory=dict)
    # the calls the object supports; history and stage objects are read-only
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    # values a per-record fault can be keyed by on create (external ids when empty)
    fault_keys: tuple[str, ...] = ()

    def add(self, *defs: FieldDef) -> None:
        for f in defs:
            self.fields[f.name] = f
            self._lower[f.name.lower()] = f

    def drop(self, name: str) -> bool:
        found = self.field(name)
        if found is None:
            return False
        del self.fields[found.name]
        del self._lower[found.name.lower()]
        return True

    def field(self, name: str) -> FieldDef | None:
        return self._lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind a relationship name (`Owner` -> `OwnerId`)."""
        lowered = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None

    def url(self, version: str) -> str:
        return f"/services/data/v{version}/sobjects/{self.name}"

    def basic(self, version: str) -> dict[str, Any]:
        """The object entry of describe global and of `GET /sobjects/{T}`."""
        base = self.url(version)
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "searchable": True,
            "replicateable": True,
            "retrieveable": True,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def describe(self, version: str) -> dict[str, Any]:
        return {
            **self.basic(version),
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [],
            "recordTypeInfos": [],
        }


def system_fields(prefix_label: str) -> list[FieldDef]:
    def ro(name: str, ftype: str, label: str, **extra: Any) -> FieldDef:
        return FieldDef(name, ftype, label=label, createable=False, updateable=False, **extra)

    return [
        ro("Id", "id", f"{prefix_label} ID", length=18),
        ro("IsDeleted", "boolean", "Deleted"),
        ro("CreatedDate", "datetime", "Created Date"),
        ro(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            reference_to=("User",),
            relationship_name="CreatedBy",
        ),
        ro("LastModifiedDate", "datetime", "Last Modified Date"),
        ro(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
        ),
        ro("SystemModstamp", "datetime", "System Modstamp"),
    ]


def owner_field(*targets: str) -> FieldDef:
    """OwnerId; Lead and Task owners may be a queue (Group) too, as in a real org."""
    return FieldDef(
        "OwnerId",
        "reference",
        label="Owner ID",
        length=18,
        reference_to=("User", *targets),
        relationship_name="Owner",
    )


def _sms_fields() -> list[FieldDef]:
    return [
        FieldDef("SMS_Journey_State__c", "picklist", length=255, picklist=SMS_JOURNEY),
        FieldDef("SMS_Active_Motion__c", "string", length=80),
        FieldDef("SMS_Disposition__c", "picklist", length=255, picklist=SMS_DISPOSITIONS),
        FieldDef("SMS_Consent_Status__c", "picklist", length=255, picklist=SMS_CONSENT),
        FieldDef("SMS_Consent_Timestamp__c", "datetime"),
        FieldDef("SMS_Consent_Source__c", "picklist", length=255, picklist=SMS_CONSENT_SOURCES),
        FieldDef("SMS_SLA_Due__c", "datetime"),
        FieldDef("SMS_SLA_Breached__c", "boolean", label="SMS SLA Breached"),
        FieldDef("SMS_Owner_Team__c", "string", length=80),
        FieldDef("SMS_Time_Zone__c", "string", length=64),
        FieldDef("SMS_Phone_Status__c", "string", length=40),
        FieldDef("SMS_Thread__c", "textarea", label="SMS Thread", length=32000),
        # the org's own fields the example plays read (meeting, renewal, web form)
        FieldDef("Next_Meeting__c", "datetime", label="Next Meeting"),
        FieldDef("Renewal_Date__c", "date", label="Renewal Date"),
        FieldDef("Last_Form_Submitted__c", "datetime", label="Last Form Submitted"),
        FieldDef("Last_Form_Name__c", "string", label="Last Form Name", length=80),
        FieldDef("Preferred_Language__c", "string", label="Preferred Language", length=16),
        # standard and system-maintained: the latest closed activity's date
        FieldDef(
            "LastActivityDate",
            "date",
            label="Last Activity",
            createable=False,
            updateable=False,
        ),
    ]


def _name() -> FieldDef:
    return FieldDef(
        "Name", "string", label="Full Name", length=121, createable=False, updateable=False
    )


def build_schema() -> dict[str, ObjectDef]:
    """A fresh org schema (admin tweaks mutate it; reset builds it again)."""
    lead = ObjectDef("Lead", "00Q", "Lead", "Leads")
    lead.add(
        *system_fields("Lead"),
        FieldDef("FirstName", "string", label="First Name", length=40),
        FieldDef("LastName", "string", label="Last Name", length=80, required=True),
        _name(),
        FieldDef("Company", "string", length=255, required=True),
        FieldDef("Email", "email", length=80),
        FieldDef("Phone", "phone", length=40),
        FieldDef("MobilePhone", "phone", label="Mobile Phone", length=40),
        FieldDef(
            "Status",
            "picklist",
            label="Lead Status",
            length=255,
            picklist=LEAD_STATUSES,
            default_value="Open - Not Contacted",
        ),
        FieldDef("Industry", "picklist", length=255, picklist=_INDUSTRIES),
        FieldDef("State", "string", label="State/Province", length=80),
        FieldDef("PostalCode", "string", label="Zip/Postal Code", length=20),
        FieldDef("LeadSource", "picklist", label="Lead Source", length=255, picklist=SOURCES),
        owner_field("Group"),
        *_sms_fields(),
    )
    contact = ObjectDef("Contact", "003", "Contact", "Contacts")
    contact.add(
        *system_fields("Contact"),
        FieldDef("FirstName", "string", label="First Name", length=40),
        FieldDef("LastName", "string", label="Last Name", length=80, required=True),
        _name(),
        FieldDef("Email", "email", length=80),
        FieldDef("Phone", "phone", label="Business Phone", length=40),
        FieldDef("MobilePhone", "phone", label="Mobile Phone", length=40),
        FieldDef("Department", "string", length=80),
        FieldDef("MailingState", "string", label="Mailing State/Province", length=80),
        FieldDef("MailingPostalCode", "string", label="Mailing Zip/Postal Code", length=20),
        owner_field(),
        FieldDef("Lifecycle_Stage__c", "picklist", length=255, picklist=LIFECYCLE_STAGES),
        *_sms_fields(),
    )
    task = ObjectDef("Task", "00T", "Task", "Tasks")
    task.add(
        *system_fields("Activity"),
        FieldDef("Subject", "string", length=255),
        FieldDef(
            "WhoId",
            "reference",
            label="Name ID",
            length=18,
            reference_to=("Contact", "Lead"),
            relationship_name="Who",
        ),
        FieldDef("WhatId", "reference", label="Related To ID", length=18, relationship_name="What"),
        owner_field("Group"),
        FieldDef("ActivityDate", "date", label="Due Date Only"),
        FieldDef(
            "Status",
            "picklist",
            length=255,
            picklist=TASK_STATUSES,
            default_value="Not Started",
        ),
        FieldDef(
            "Priority", "picklist", length=255, picklist=TASK_PRIORITIES, default_value="Normal"
        ),
        # API 45+, system-maintained: when the task was closed (see writes.Writer._completed)
        FieldDef(
            "CompletedDateTime",
            "datetime",
            label="Completed Date/Time",
            createable=False,
            updateable=False,
        ),
        FieldDef("Description", "textarea", label="Description", length=32000),
        FieldDef("Type", "picklist", length=255, picklist=TASK_TYPES),
        FieldDef(
            "TaskSubtype", "picklist", label="Task Subtype", length=255, picklist=TASK_SUBTYPES
        ),
        FieldDef(
            "SMS_Message_Id__c",
            "string",
            label="SMS Message Id",
            length=255,
            external_id=True,
            unique=True,
        ),
        FieldDef("SMS_Direction__c", "picklist", length=255, picklist=("Inbound", "Outbound")),
        # where smsync writes the outcome of a rep's text from the CRM (mapping rep_send:)
        FieldDef("SMS_Send_Result__c", "string", label="SMS Send Result", length=255),
    )
    user = ObjectDef("User", "005", "User", "Users")
    user.add(
        *system_fields("User"),
        _name(),
        FieldDef("FirstName", "string", label="First Name", length=40),
        FieldDef("LastName", "string", label="Last Name", length=80, required=True),
        FieldDef("Email", "email", length=128, required=True),
        FieldDef("Username", "string", length=80, required=True, unique=True),
        FieldDef("IsActive", "boolean", label="Active"),
        FieldDef("Team__c", "string", label="Team", length=80),
        # Salesforce's own: the user's zone, an IANA name (what task times are shown in)
        FieldDef("TimeZoneSidKey", "picklist", label="Time Zone", length=40, picklist=USER_ZONES),
    )
    group = ObjectDef("Group", "00G", "Group", "Groups")
    group.add(
        *system_fields("Group"),
        FieldDef("Name", "string", length=40, required=True),
        FieldDef("DeveloperName", "string", label="Developer Name", length=80, unique=True),
        FieldDef("Type", "picklist", length=255, picklist=("Queue", "Regular")),
    )
    from connector.sandbox.salesforce.opportunity_schema import pipeline_objects

    return {o.name: o for o in (lead, contact, task, user, group, *pipeline_objects())}


_INDUSTRIES = (
    "Technology",
    "Healthcare",
    "Finance",
    "Retail",
    "Manufacturing",
    "Education",
    "Other",
)
SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "SMS", "Other")


def find_object(schema: dict[str, ObjectDef], name: str) -> ObjectDef | None:
    lowered = name.lower()
    for obj in schema.values():
        if obj.name.lower() == lowered:
            return obj
    return None
