"""The Salesforce errors table and the canonical ⇄ Salesforce conversions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.config import load_mapping
from connector.crm.salesforce.errors import classify, error_for, parse_error
from connector.crm.salesforce.limits import ApiUsage, parse_limit_info
from connector.crm.salesforce.mapping import SalesforceMapping, WriteMappingError, parse_datetime
from connector.domain.model import ConsentStatus, CrmRef, CrmWrite, TzSource
from connector.errors import (
    ConfigError,
    QuotaExhaustedError,
    RateLimitedError,
    RetriableError,
    SessionExpiredError,
)
from connector.vendor_errors import Action

MAPPING = SalesforceMapping(
    load_mapping(Path(__file__).resolve().parents[2] / "mappings" / "salesforce.yaml")
)


@pytest.mark.parametrize(
    ("status", "code", "message", "fields", "action"),
    [
        (401, "INVALID_SESSION_ID", "Session expired or invalid", (), Action.REFRESH_AUTH),
        (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", (), Action.QUOTA),
        (
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
            (),
            Action.RATE_LIMITED,
        ),
        (None, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", (), Action.RETRY),
        (None, "ENTITY_IS_DELETED", "entity is deleted", (), Action.ORPHANED),
        (
            None,
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            ("WhoId",),
            Action.ORPHANED,
        ),
        (None, "INVALID_CROSS_REFERENCE_KEY", "bad owner", ("OwnerId",), Action.RECORD),
        (None, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "no", (), Action.RECORD),
        (400, "INVALID_FIELD", "No such column", (), Action.CONFIG),
        (404, "NOT_FOUND", "The requested resource does not exist", (), Action.CONFIG),
        (503, None, "", (), Action.RETRY),
    ],
)
def test_one_table_classifies_every_failure(
    status: int | None, code: str, message: str, fields: tuple[str, ...], action: Action
) -> None:
    assert classify(status, code, message, fields).action is action


def test_whole_call_errors_become_the_exception_the_caller_acts_on() -> None:
    def err(status: int, body: object) -> Exception:
        return error_for(parse_error(status, body), "query")

    assert isinstance(
        err(401, b'[{"errorCode":"INVALID_SESSION_ID","message":"x"}]'), SessionExpiredError
    )
    assert isinstance(
        err(
            403,
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
        ),
        QuotaExhaustedError,
    )
    assert isinstance(
        err(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "Concurrent"}]),
        RateLimitedError,
    )
    assert isinstance(err(502, "<html>bad gateway</html>"), RetriableError)
    config = err(400, [{"errorCode": "INVALID_FIELD", "message": "No such column 'X__c'"}])
    assert isinstance(config, ConfigError)
    assert "smsync mappings check" in str(config)


def test_usage_is_read_from_the_limit_header_and_stops_at_the_share() -> None:
    assert parse_limit_info("api-usage=18/5000") == (18, 5000)
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=x)") == (25, 5000)
    assert parse_limit_info("garbage") is None
    usage = ApiUsage(0.8)
    usage.check()  # unknown usage never stops writing
    usage.observe("api-usage=799/1000")
    usage.check()
    usage.observe("api-usage=800/1000")
    with pytest.raises(QuotaExhaustedError, match="SMSYNC_API_USAGE_STOP_SHARE"):
        usage.check()


def test_a_row_becomes_a_canonical_contact() -> None:
    state = MAPPING.to_contact(
        "Lead",
        {
            "Id": "00Q000000000001AAA",
            "SystemModstamp": "2026-11-02T15:04:05.123+0000",
            "MobilePhone": None,
            "Phone": "(415) 555-0123",
            "SMS_Consent_Status__c": "Opted_Out",
            "SMS_Journey_State__c": "Meeting_Booked",
            "Status": "Working - Contacted",
            "OwnerId": "005000000000001AAA",
            "Industry": "Retail",
        },
    )
    assert state.phone == "+14155550123"
    assert state.consent is ConsentStatus.OPTED_OUT
    assert (state.journey_state, state.lifecycle_stage) == ("meeting_booked", "working")
    assert state.time_zones is not None
    assert state.time_zones.source is TzSource.AREA_CODE
    assert state.segments == {"industry": "Retail"}
    assert state.modstamp == datetime(2026, 11, 2, 15, 4, 5, 123000, tzinfo=UTC)


def test_the_time_zone_field_wins_and_the_default_comes_last() -> None:
    row = {"Id": "003000000000001AAA", "SystemModstamp": "2026-11-02T15:04:05.000+0000"}
    crm_field = MAPPING.to_contact("Contact", {**row, "SMS_Time_Zone__c": "America/Denver"})
    assert crm_field.time_zones is not None
    assert crm_field.time_zones.source is TzSource.CRM_FIELD
    fallback = MAPPING.to_contact("Contact", {**row, "SMS_Time_Zone__c": "Mars/Olympus"})
    assert fallback.time_zones is not None
    assert fallback.time_zones.source is TzSource.DEFAULT


def test_a_task_is_due_on_its_utc_date_with_mapped_priority_and_status() -> None:
    write = CrmWrite(
        "task",
        "task:SM1:follow_up",
        CrmRef("Lead", "00Q000000000001AAA"),
        {"subject": "x" * 300, "body": "b", "priority": "low", "status": "open"},
        due=datetime(2026, 11, 3, 1, 30, tzinfo=UTC),  # evening of the 2nd in New York
    )
    record = MAPPING.task(write, owner_id="005000000000001AAA")
    assert record["ActivityDate"] == "2026-11-03"
    assert (record["Priority"], record["Status"], record["Type"]) == ("Low", "Not Started", "Call")
    assert len(record["Subject"]) == 255
    assert record["SMS_Message_Id__c"] == "task:SM1:follow_up"
    assert record["OwnerId"] == "005000000000001AAA"


def test_field_updates_translate_values_and_refuse_unmapped_ones() -> None:
    target = CrmRef("Contact", "003000000000001AAA")
    record = MAPPING.field_update(
        CrmWrite(
            "field_update",
            "f:1",
            target,
            {
                "consent_status": "opted_out",
                "sla_breached": True,
                "sla_due": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
    )
    assert record["SMS_Consent_Status__c"] == "Opted_Out"
    assert record["SMS_SLA_Breached__c"] is True
    assert record["SMS_SLA_Due__c"] == "2026-01-01T00:00:00.000Z"
    with pytest.raises(WriteMappingError, match=r"value_maps\.disposition"):
        MAPPING.field_update(CrmWrite("field_update", "f:2", target, {"disposition": "elated"}))
    assert parse_datetime("not a date") is None
