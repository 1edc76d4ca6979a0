"""The mapping's `rep_send:` section: how a rep texts back from the CRM.

The rep creates a record of the mapped kind on the person (Salesforce: a Task on the
Lead/Contact with Type SMS and Status "Send SMS"; HubSpot: a task associated with the
contact, marked with the mapped kind and status), the text in its body. smsync finds it
with one targeted query (`SMSYNC_REP_SEND_INTERVAL_S`), sends it through the manual-send
chokepoint, and writes the outcome in words on the same record, moving its status to the
done value."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from connector.config.mapping_types import TASK_OBJECTS, for_crm
from connector.config.values import ApiName, Strict, fail

Value = Annotated[str, Field(min_length=1, max_length=255)]


class RepSend(Strict):
    """Where a rep's outbound text lives in the CRM, and where its outcome is written."""

    object: Annotated[str, AfterValidator(for_crm(TASK_OBJECTS, "rep send object"))] = Field(
        description="Task (Salesforce) or tasks (HubSpot): the record a rep creates."
    )
    status_field: ApiName = Field(
        description="The record's status field: Status (Salesforce), hs_task_status (HubSpot)."
    )
    send_status: Value = Field(
        description="The status that asks smsync to send, e.g. Send SMS (a value an admin "
        "adds to the Task Status picklist) or WAITING (HubSpot)."
    )
    done_status: Value = Field(
        description="The status smsync sets once the text went out, was blocked or failed, "
        "e.g. Completed / COMPLETED."
    )
    kind_field: ApiName | None = Field(
        None,
        description="A field that marks the record as a text, e.g. Type (Salesforce) or a "
        "custom task property (HubSpot: smsync_task_kind). Default: none (status only).",
    )
    kind: Value | None = Field(None, description="Its value, e.g. SMS.")
    body_field: ApiName = Field(
        description="Where the rep writes the text: Description (Salesforce), "
        "hs_task_body (HubSpot)."
    )
    result_field: ApiName = Field(
        description="Where smsync writes the outcome in words (sent, blocked: why, failed: "
        "why), e.g. SMS_Send_Result__c (a text field on Task) or smsync_send_result."
    )
    close_follow_up: bool = Field(
        default=True,
        description="A sent text meets the open first-response SLA and also closes the "
        "follow-up task of the reply it answers.",
    )

    @model_validator(mode="after")
    def _kind_pair(self) -> RepSend:
        if (self.kind_field is None) != (self.kind is None):
            raise fail("kind_field and kind go together: set both (e.g. Type and SMS) or neither")
        if self.send_status == self.done_status:
            raise fail(
                "send_status and done_status must differ, or a sent text would be sent again"
            )
        return self
