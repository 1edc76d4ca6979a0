"""Where each text is logged (the activity) and the follow-up tasks a reply creates."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from connector.config.mapping_types import (
    ACTIVITY_OBJECTS,
    TASK_OBJECTS,
    TEMPLATE_PLACEHOLDERS,
    Disposition,
    JourneyState,
    LifecycleStage,
    Template,
    for_crm,
    task_enum,
)
from connector.config.values import ApiName, Duration, Strict, TimeZoneName

# --- activities and tasks ---------------------------------------------------------------


class Activity(Strict):
    """Where each text is logged; the external id makes a replayed write an upsert."""

    object: Annotated[str, AfterValidator(for_crm(ACTIVITY_OBJECTS, "activity object"))] = Field(
        description="Task (Salesforce) or communications (HubSpot)."
    )
    external_id_field: ApiName = Field(
        description="Unique external-id field (HubSpot: property) holding sms:<MessageSid>; "
        "e.g. SMS_Message_Id__c or smsync_external_id."
    )
    type: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None,
        description="Salesforce: the Task Type each text is logged with (a value of the "
        "org's Type picklist, e.g. SMS once an admin adds it). Default: Other. HubSpot logs "
        "SMS communications and ignores it.",
    )
    subtype: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None,
        description="Salesforce: the TaskSubtype each text is logged with (Task, Call, "
        "Email). Default: none (Salesforce's Task).",
    )
    thread_messages: Annotated[int, Field(ge=1, le=50)] = Field(
        10, description="How many of the latest texts the sms_thread field shows."
    )


class JourneyMoves(Strict):
    """Where smsync moves the journey-state field (canonical values of
    value_maps.journey_state) when something happens; an event left out moves nothing."""

    on_reply: JourneyState | None = Field(
        None, description="After a reply that is not an opt-out or HELP, e.g. engaged."
    )
    on_opt_out: JourneyState | None = Field(None, description="After an opt-out, e.g. closed.")
    on_meeting: JourneyState | None = Field(
        None,
        description="When the record's meeting_time segment is set or moves (a meeting "
        "booked in the CRM), e.g. meeting_booked.",
    )
    on_close: JourneyState | None = Field(
        None,
        description="When the lifecycle stage enters one of close_stages, e.g. closed; the "
        "active motion ends too.",
    )
    close_stages: tuple[LifecycleStage, ...] = Field(
        (),
        description="Canonical lifecycle stages (value_maps.lifecycle_stage) that close the "
        "journey, e.g. [converted, disqualified, customer].",
    )


class TaskStatusValues(Strict):
    """The CRM's task status values for an open and a finished task."""

    open: Annotated[str, AfterValidator(task_enum("status"))] = Field(
        description="Status of a new task: Not Started (Salesforce), NOT_STARTED (HubSpot)."
    )
    done: Annotated[str, AfterValidator(task_enum("status"))] = Field(
        description="Status once the SLA is met: Completed (Salesforce), COMPLETED (HubSpot)."
    )


_PLACEHOLDERS = (
    "Placeholders: "
    + ", ".join(f"${name}" for name in TEMPLATE_PLACEHOLDERS)
    + "; write $$ for a literal dollar sign."
)


class TalkTrack(Strict):
    """What to say to a reply of one disposition."""

    disposition: Disposition = Field(description="The disposition this talk track is for.")
    text: Annotated[str, Field(min_length=1)] = Field(
        description="e.g. 'Share the pricing sheet and offer a 15-minute call.'"
    )


class TaskSettings(Strict):
    """The follow-up task created for the owner when a reply needs a human."""

    object: Annotated[str, AfterValidator(for_crm(TASK_OBJECTS, "task object"))] = Field(
        description="Task (Salesforce) or tasks (HubSpot)."
    )
    external_id_field: ApiName = Field(
        description="Unique external-id field (HubSpot: property) holding task:<sid>:<kind>."
    )
    subject: Template = Field(
        description="Subject template, e.g. 'SMS reply: $disposition'. " + _PLACEHOLDERS
    )
    body: Template = Field(
        description="Body template, e.g. '$contact_name wrote: $body'. " + _PLACEHOLDERS
    )
    priority: Annotated[str, AfterValidator(task_enum("priority"))] = Field(
        description="High, Normal or Low (Salesforce); LOW, MEDIUM or HIGH (HubSpot)."
    )
    type: Annotated[str, AfterValidator(task_enum("type"))] = Field(
        description="Call, Email, Meeting or Other (Salesforce); TODO, CALL or EMAIL (HubSpot)."
    )
    status: TaskStatusValues = Field(description="Task status values for open and done.")
    fallback_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User or queue id that gets the task when the contact has no owner.",
    )
    review_owner_id: str | None = Field(
        None,
        min_length=1,
        description="User or queue id that gets the one review task for a reply from an "
        "unknown number or from a number on several records. Default: fallback_owner_id.",
    )
    talk_tracks: tuple[TalkTrack, ...] = Field(
        (),
        description="What the rep should say per disposition, appended to the follow-up "
        "task's body.",
    )

    reply_window: Duration = Field(
        timedelta(days=7),
        description="A reply is credited to the last play that texted the number within "
        "this window (e.g. 7d, 48h); older texts credit no play.",
    )
    conversation_messages: Annotated[int, Field(ge=1, le=50)] = Field(
        5, description="How many of the latest texts, both directions, a task's body shows."
    )
    owner_time_zone: TimeZoneName | None = Field(
        None,
        description="IANA zone for task times when the CRM holds none for the owner "
        "(Salesforce reads User.TimeZoneSidKey, HubSpot the portal's zone). Default: "
        "sla.business_hours.time_zone.",
    )

    record_url: Annotated[str, Field(min_length=1, pattern=r"\$\{?id\b")] | None = Field(
        None,
        description="Link to a record, shown by review tasks for each candidate record: "
        "$object_type and $id, e.g. https://app.hubspot.com/contacts/<portal>/record/0-1/$id. "
        "Salesforce's default: the instance URL + /lightning/r/$object_type/$id/view.",
    )

    def talk_track(self, disposition: str) -> str | None:
        return next((t.text for t in self.talk_tracks if t.disposition == disposition), None)
