"""Property definitions per object type, and how written values are checked and stored.

HubSpot stores every value as a string; datetimes come back as ISO 8601 with milliseconds
and `Z` whatever form they were written in (epoch milliseconds or ISO)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from connector.sandbox.hubspot.errors import property_errors, validation_error

CONTACTS, TASKS, COMMUNICATIONS, DEALS = "contacts", "tasks", "communications", "deals"
ENGAGEMENTS = frozenset({TASKS, COMMUNICATIONS})
SMSYNC_WRITES = (CONTACTS, TASKS, COMMUNICATIONS)  # where smsync installs its external id
TASK_STATUS, TASK_DONE = "hs_task_status", "COMPLETED"
TASK_COMPLETED_AT = "hs_task_completion_date"  # read-only: HubSpot sets it as a task closes

# HubSpot property `type` -> the `fieldType`s it accepts
FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "datetime": frozenset({"date"}),
    "date": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox"}),
    "phone_number": frozenset({"phonenumber"}),
}


def iso_ms(when: datetime) -> str:
    """`2024-05-01T12:00:00.123Z`: the only datetime form HubSpot returns."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_when(raw: str) -> datetime | None:
    """Epoch milliseconds or ISO 8601 (date or date-time) -> aware datetime, else None."""
    text = raw.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str

    def to_api(self, order: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": order,
            "hidden": False,
            "description": "",
        }


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "contactinformation"
    options: tuple[Option, ...] = ()
    unique: bool = False
    required: bool = False
    read_only: bool = False
    hubspot_defined: bool = True
    created_at: str = "2019-08-06T02:43:14.491Z"
    option_values: frozenset[str] = field(default=frozenset(), compare=False)

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group,
            "options": [o.to_api(i) for i, o in enumerate(self.options)],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": False,
            "dataSensitivity": "non_sensitive",
        }

    def normalise(self, raw: Any) -> tuple[str | None, dict[str, Any] | None]:
        """The stored form of a written value, or HubSpot's per-property problem."""
        value = _as_text(raw)
        if value == "":
            return "", None
        if self.type == "enumeration" and self.option_values:
            parts = value.split(";") if self.field_type == "checkbox" else [value]
            bad = [p for p in parts if p not in self.option_values]
            if bad:
                allowed = ", ".join(o.value for o in self.options)
                return None, self.problem(
                    "INVALID_OPTION",
                    f"{bad[0]} was not one of the allowed options: [{allowed}]",
                )
        elif self.type == "number":
            try:
                float(value)
            except ValueError:
                return None, self.problem("INVALID_INTEGER", f"{value} is not a valid number")
        elif self.type == "bool":
            if value.lower() not in {"true", "false"}:
                return None, self.problem("INVALID_BOOLEAN", f"{value} is not a valid boolean")
            value = value.lower()
        elif self.type in {"datetime", "date"}:
            when = parse_when(value)
            if when is None:
                return None, self.problem("INVALID_DATE", f"{value} is not a valid date")
            value = iso_ms(when) if self.type == "datetime" else when.date().isoformat()
        return value, None

    def problem(self, error: str, message: str) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": message,
            "error": error,
            "name": self.name,
            "localizedErrorMessage": message,
        }


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def enum_property(
    name: str, label: str, values: tuple[str, ...], *, group: str, **kw: Any
) -> PropertyDef:
    options = tuple(Option(v, v.replace("_", " ").title()) for v in values)
    return PropertyDef(
        name,
        label,
        "enumeration",
        "select",
        group,
        options=options,
        option_values=frozenset(values),
        **kw,
    )


LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def _contact_defaults() -> list[PropertyDef]:
    g = "contactinformation"
    text = [
        ("firstname", "First Name"),
        ("lastname", "Last Name"),
        ("email", "Email"),
        ("company", "Company Name"),
        ("industry", "Industry"),
        ("state", "State/Region"),
        ("zip", "Postal Code"),
        ("hs_timezone", "Time Zone"),
    ]
    props = [PropertyDef(n, lbl, group=g) for n, lbl in text]
    props += [
        PropertyDef("phone", "Phone Number", "string", "phonenumber", g),
        PropertyDef("mobilephone", "Mobile Phone Number", "string", "phonenumber", g),
        enum_property("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, group=g),
        PropertyDef("hubspot_owner_id", "Contact owner", "enumeration", "select", g),
        PropertyDef("createdate", "Create Date", "datetime", "date", g, read_only=True),
        PropertyDef(
            "lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True
        ),
        PropertyDef("hs_object_id", "Record ID", "number", "number", g, read_only=True),
        PropertyDef(
            "notes_last_updated", "Last Activity Date", "datetime", "date", g, read_only=True
        ),
        PropertyDef(
            "recent_conversion_date",
            "Recent Conversion Date",
            "datetime",
            "date",
            "conversioninformation",
            read_only=True,
        ),
        PropertyDef(
            "recent_conversion_event_name",
            "Recent Conversion",
            "string",
            "text",
            "conversioninformation",
            read_only=True,
        ),
    ]
    custom = [
        ("smsync_journey_state", "smsync journey state"),
        ("smsync_active_motion", "smsync active motion"),
        ("smsync_disposition", "smsync disposition"),
        ("smsync_consent_source", "smsync consent source"),
        ("smsync_owner_team", "smsync owner team"),
        ("smsync_phone_status", "smsync phone status"),
    ]
    props += [PropertyDef(n, lbl, group="smsync", hubspot_defined=False) for n, lbl in custom]
    props += [
        enum_property(
            "smsync_consent_status",
            "smsync consent status",
            ("opted_in", "opted_out", "unknown"),
            group="smsync",
            hubspot_defined=False,
        ),
        PropertyDef(
            "smsync_consent_timestamp",
            "smsync consent timestamp",
            "datetime",
            "date",
            "smsync",
            hubspot_defined=False,
        ),
        PropertyDef(
            "smsync_sla_due", "smsync SLA due", "datetime", "date", "smsync", hubspot_defined=False
        ),
        PropertyDef(
            "next_meeting_time", "Next meeting", "datetime", "date", "sales", hubspot_defined=False
        ),
        PropertyDef("renewal_date", "Renewal date", "date", "date", "sales", hubspot_defined=False),
        # HubSpot's own "Preferred language" (a few of its ISO-code options)
        enum_property(
            "hs_language",
            "Preferred language",
            ("en", "es", "fr", "de", "pt"),
            group="contactinformation",
        ),
        PropertyDef(
            "smsync_sms_thread",
            "smsync SMS thread",
            "string",
            "textarea",
            "smsync",
            hubspot_defined=False,
        ),
        PropertyDef(
            "smsync_sla_breached",
            "smsync SLA breached",
            "bool",
            "booleancheckbox",
            "smsync",
            hubspot_defined=False,
        ),
    ]
    return props


def _external_id(unique: bool) -> PropertyDef:
    return PropertyDef(
        "smsync_external_id",
        "smsync external id",
        group="smsync",
        unique=unique,
        hubspot_defined=False,
    )


def _task_defaults() -> list[PropertyDef]:
    g = "task"
    return [
        PropertyDef("hs_timestamp", "Due date", "datetime", "date", g, required=True),
        PropertyDef("hs_task_subject", "Task Title", group=g),
        PropertyDef("hs_task_body", "Notes", "string", "textarea", g),
        enum_property(
            TASK_STATUS,
            "Task Status",
            ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
            group=g,
        ),
        enum_property("hs_task_priority", "Priority", ("NONE", "LOW", "MEDIUM", "HIGH"), group=g),
        enum_property(
            "hs_task_type",
            "Task Type",
            ("TODO", "CALL", "EMAIL", "LINKED_IN", "MEETING", "LINKED_IN_CONNECT"),
            group=g,
        ),
        PropertyDef("hubspot_owner_id", "Assigned to", "enumeration", "select", g),
        PropertyDef(
            TASK_COMPLETED_AT, "Task completion date", "datetime", "date", g, read_only=True
        ),
        PropertyDef("hs_createdate", "Created at", "datetime", "date", g, read_only=True),
        PropertyDef(
            "hs_lastmodifieddate", "Last modified date", "datetime", "date", g, read_only=True
        ),
        PropertyDef("hs_object_id", "Record ID", "number", "number", g, read_only=True),
        # the portal's own, as smsync's setup creates them: a rep marks a task as a text to
        # send (mapping `rep_send:`), and smsync writes the outcome in words
        enum_property(
            "smsync_task_kind", "smsync task kind", ("SMS",), group="smsync", hubspot_defined=False
        ),
        PropertyDef(
            "smsync_send_result",
            "smsync send result",
            "string",
            "textarea",
            "smsync",
            hubspot_defined=False,
        ),
    ]


def _communication_defaults() -> list[PropertyDef]:
    g = "communication"
    return [
        enum_property(
            "hs_communication_channel_type",
            "Channel type",
            (
                "SMS",
                "WHATS_APP",
                "LINKEDIN_MESSAGE",
                "PHYSICAL_MAIL",
                "CUSTOM_CHANNEL_CONVERSATION",
            ),
            group=g,
        ),
        enum_property("hs_communication_logged_from", "Logged from", ("CRM",), group=g),
        PropertyDef("hs_communication_body", "Body", "string", "textarea", g),
        PropertyDef("hs_timestamp", "Activity date", "datetime", "date", g),
        PropertyDef("hubspot_owner_id", "Activity assigned to", "enumeration", "select", g),
        PropertyDef("hs_createdate", "Created at", "datetime", "date", g, read_only=True),
        PropertyDef(
            "hs_lastmodifieddate", "Last modified date", "datetime", "date", g, read_only=True
        ),
        PropertyDef("hs_object_id", "Record ID", "number", "number", g, read_only=True),
    ]


def default_properties(external_id_unique: dict[str, bool]) -> dict[str, dict[str, PropertyDef]]:
    """The schema of a fresh portal with smsync's custom properties installed."""
    from connector.sandbox.hubspot.deals import deal_properties

    out = {
        CONTACTS: _contact_defaults(),
        TASKS: _task_defaults(),
        COMMUNICATIONS: _communication_defaults(),
        DEALS: deal_properties(),
    }
    for obj in SMSYNC_WRITES:
        out[obj].append(_external_id(external_id_unique[obj]))
    return {obj: {p.name: p for p in props} for obj, props in out.items()}


def define(body: dict[str, Any], now: datetime) -> PropertyDef:
    """A custom property from a `PropertyCreate` body, validated the way HubSpot does."""
    name = body.get("name")
    label = body.get("label")
    ptype = body.get("type")
    field_type = body.get("fieldType")
    group = body.get("groupName")
    missing = [
        k
        for k, v in (
            ("name", name),
            ("label", label),
            ("type", ptype),
            ("fieldType", field_type),
            ("groupName", group),
        )
        if not isinstance(v, str) or not v
    ]
    if missing:
        raise validation_error(f"Invalid input JSON: missing required fields {missing}")
    assert isinstance(name, str)
    assert isinstance(ptype, str)
    assert isinstance(field_type, str)
    if ptype not in FIELD_TYPES:
        raise validation_error(f"Unable to process JSON: unknown property type {ptype!r}")
    if field_type not in FIELD_TYPES[ptype]:
        raise validation_error(
            f"Property {name} has type {ptype} which is not compatible with field type {field_type}"
        )
    if not name.replace("_", "").isalnum() or name[0].isdigit() or name != name.lower():
        raise validation_error(
            f"Property name {name!r} must be lower case and contain only letters, digits "
            "and underscores"
        )
    options = tuple(
        Option(str(o.get("value", "")), str(o.get("label", o.get("value", ""))))
        for o in body.get("options") or []
        if isinstance(o, dict)
    )
    if ptype == "enumeration" and field_type != "booleancheckbox" and not options:
        raise validation_error(f"Property {name} of type enumeration needs options")
    return PropertyDef(
        name,
        str(label),
        ptype,
        field_type,
        str(group),
        options=options,
        option_values=frozenset(o.value for o in options),
        unique=bool(body.get("hasUniqueValue", False)),
        hubspot_defined=False,
        created_at=iso_ms(now),
    )


def non_unique(prop: PropertyDef) -> PropertyDef:
    return replace(prop, unique=False)


def check_writable(
    props: dict[str, PropertyDef], values: dict[str, Any], *, creating: bool
) -> dict[str, str]:
    """Stored values for a write, or the 400 HubSpot answers (all problems at once)."""
    problems: list[dict[str, Any]] = []
    out: dict[str, str] = {}
    for name, raw in values.items():
        prop = props.get(name)
        if prop is None:
            msg = f'Property "{name}" does not exist'
            problems.append(
                {
                    "isValid": False,
                    "message": msg,
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                    "localizedErrorMessage": msg,
                }
            )
            continue
        if prop.read_only:
            problems.append(
                prop.problem(
                    "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set'
                )
            )
            continue
        value, problem = prop.normalise(raw)
        if problem is not None:
            problems.append(problem)
        elif value is not None:
            out[name] = value
    if creating:
        problems.extend(
            prop.problem("REQUIRED_PROPERTY", f"{prop.name} is a required property")
            for prop in props.values()
            if prop.required and not out.get(prop.name)
        )
    if problems:
        raise property_errors(problems)
    return out


def must_be_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise validation_error(f"Invalid input JSON: {what} must be an object")
    return value


def must_be_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise validation_error(f"Invalid input JSON: {what} must be an array")
    return value
