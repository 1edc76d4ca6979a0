"""The Messages REST resource: create, fetch, list, errors, faults and stats, checked
against Twilio's published OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from connector.sandbox.seed import SeedData
from tests.integration.sandbox.twilio_fixtures import (
    LIST_SCHEMA,
    MESSAGE_SCHEMA,
    OTHER,
    TO,
    Twilio,
    assert_matches_spec,
    receiver,
    sandbox,
    tw,
)

__all__ = ["receiver", "sandbox", "tw"]

RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


def _error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return body


def test_create_answers_201_with_a_resource_the_spec_accepts(tw: Twilio) -> None:
    tw.freeze_clock("2026-11-22T19:06:26.500000+00:00")
    response = tw.send(To="(415) 555-2671", Body="Hi Ava, your demo is at 3pm.")

    assert response.status_code == 201
    msg = response.json()
    assert_matches_spec(MESSAGE_SCHEMA, msg)
    assert re.fullmatch(r"SM[0-9a-f]{32}", msg["sid"])
    assert msg["status"] == "queued"
    assert msg["direction"] == "outbound-api"
    assert msg["to"] == TO
    assert msg["from"] == tw.creds.twilio_from
    assert msg["num_segments"] == "1"
    assert msg["num_media"] == "0"
    assert msg["date_created"] == "Sun, 22 Nov 2026 19:06:26 +0000"
    assert RFC2822.match(msg["date_updated"])
    assert msg["error_code"] is None
    assert msg["uri"] == (
        f"/2010-04-01/Accounts/{tw.creds.twilio_account_sid}/Messages/{msg['sid']}.json"
    )


def test_a_messaging_service_send_is_accepted_without_a_sender_yet(tw: Twilio) -> None:
    response = tw.http.post(
        tw.messages_url,
        data={"To": TO, "MessagingServiceSid": tw.creds.twilio_messaging_service_sid, "Body": "x"},
        timeout=10,
    )

    assert response.status_code == 201
    msg = response.json()
    assert_matches_spec(MESSAGE_SCHEMA, msg)
    assert msg["status"] == "accepted"
    assert msg["from"] is None
    assert msg["num_segments"] == "0"
    assert msg["messaging_service_sid"] == tw.creds.twilio_messaging_service_sid


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("a" * 306, "2"),
        ("a" * 307, "3"),
        ("{" * 80, "1"),  # extension characters cost two septets
        ("{" * 81, "2"),
        ("ł" * 70, "1"),  # not GSM-7: UCS-2
        ("ł" * 71, "2"),
        ("ł" * 134, "2"),
        ("ł" * 135, "3"),
    ],
)
def test_segments_follow_gsm7_and_ucs2_limits(tw: Twilio, body: str, expected: str) -> None:
    response = tw.send(To=TO, Body=body)

    assert response.json()["num_segments"] == expected


def test_wrong_credentials_get_twilios_401(tw: Twilio) -> None:
    wrong = requests.post(
        tw.messages_url,
        data={"To": TO, "From": tw.creds.twilio_from, "Body": "x"},
        auth=(tw.creds.twilio_account_sid, "not-the-token"),
        timeout=10,
    )
    missing = requests.get(tw.messages_url, timeout=10)

    for response in (wrong, missing):
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }


def test_missing_parameters_are_refused(tw: Twilio) -> None:
    _error(tw.http.post(tw.messages_url, data={"Body": "x", "From": TO}, timeout=10), 400, 21604)
    _error(tw.http.post(tw.messages_url, data={"To": TO, "Body": "x"}, timeout=10), 400, 21603)
    _error(tw.send(To=TO), 400, 21602)
    _error(tw.send(To=TO, From="+12025550199", Body="x"), 400, 21606)


def test_body_over_1600_characters_is_21617(tw: Twilio) -> None:
    body = _error(tw.send(To=TO, Body="a" * 1601), 400, 21617)

    assert "1600" in body["message"]
    assert tw.send(To=TO, Body="a" * 1600).status_code == 201


@pytest.mark.parametrize("number", ["12345", "+1 (111) 222-3333", "555-0100", "n/a"])
def test_invalid_numbers_are_21211(tw: Twilio, number: str) -> None:
    body = _error(tw.send(To=number, Body="x"), 400, 21211)

    assert body["message"] == f"The 'To' number {number} is not a valid phone number."


def test_landlines_are_21614_whether_seeded_or_registered(tw: Twilio) -> None:
    seeded, registered = "+13125550143", "+12065550172"
    tw.sb.emulators["twilio"].seed(SeedData([], [], frozenset({seeded}), frozenset()))
    tw.admin("POST", "/twilio/numbers", {"number": "(206) 555-0172", "kind": "landline"})

    for number in (seeded, registered):
        body = _error(tw.send(To=number, Body="x"), 400, 21614)
        assert body["message"] == "'To' number is not a valid mobile number"
    tw.admin("POST", "/twilio/numbers", {"number": registered, "kind": "mobile"})
    assert tw.send(To=registered, Body="x").status_code == 201


def test_a_number_registered_invalid_is_21211(tw: Twilio) -> None:
    tw.admin("POST", "/twilio/numbers", {"number": OTHER, "kind": "invalid"})

    _error(tw.send(To=OTHER, Body="x"), 400, 21211)


def test_fetch_returns_the_message_and_404s_an_unknown_sid(tw: Twilio) -> None:
    created = tw.send(To=TO, Body="x").json()

    fetched = tw.get(created["uri"])
    unknown = tw.get(created["uri"].replace(created["sid"], "SM" + "0" * 32))

    assert fetched.status_code == 200
    assert fetched.json() == created
    _error(unknown, 404, 20404)


def test_list_pages_newest_first_with_next_page_uri(tw: Twilio) -> None:
    sids = [tw.send(To=TO, Body=f"m{i}").json()["sid"] for i in range(5)]
    tw.send(To=OTHER, Body="not for TO")

    seen: list[str] = []
    page = tw.list(To=TO, PageSize="2").json()
    pages = 1
    while True:
        assert_matches_spec(LIST_SCHEMA, page)
        assert page["page_size"] == 2
        assert all(m["to"] == TO for m in page["messages"])
        seen += [m["sid"] for m in page["messages"]]
        if page["next_page_uri"] is None:
            break
        page = tw.get(page["next_page_uri"]).json()
        pages += 1

    assert seen == list(reversed(sids))
    assert pages == 3
    assert page["page"] == 2
    assert page["start"] == 4
    assert page["end"] == 4
    assert page["previous_page_uri"] is not None
    assert tw.get(page["previous_page_uri"]).json()["messages"][0]["sid"] == sids[2]


def test_list_defaults_to_50_and_caps_page_size_at_1000(tw: Twilio) -> None:
    assert tw.list().json()["page_size"] == 50
    assert tw.list(PageSize="5000").json()["page_size"] == 1000


def test_list_filters_by_date_sent(tw: Twilio) -> None:
    tw.freeze_clock("2026-11-20T10:00:00+00:00")
    early = [tw.send(To=TO, Body=f"early {i}").json()["sid"] for i in range(2)]
    tw.freeze_clock("2026-11-22T09:30:00+00:00")
    late = tw.send(To=TO, Body="late").json()["sid"]

    def sids(**params: str) -> list[str]:
        page = tw.list(To=TO, **params).json()
        assert_matches_spec(LIST_SCHEMA, page)
        return [m["sid"] for m in page["messages"]]

    assert sids(**{"DateSent>": "2026-11-21"}) == [late]
    assert sids(**{"DateSent>": "2026-11-22T09:30:00Z"}) == [late]
    assert sids(**{"DateSent>": "2026-11-22T09:30:01Z"}) == []
    assert sids(**{"DateSent<": "2026-11-20"}) == list(reversed(early))
    assert sids(DateSent="2026-11-20") == list(reversed(early))
    assert sids(DateSent="2026-11-21") == []
    _error(tw.list(**{"DateSent>": "yesterday"}), 400, 20001)


def test_filter_parameters_are_echoed_in_page_uris(tw: Twilio) -> None:
    tw.send(To=TO, Body="a")
    tw.send(To=TO, Body="b")

    page = tw.list(To=TO, **{"DateSent>": "2020-01-01"}, PageSize="1").json()

    assert "To=%2B14155552671" in page["uri"]
    assert "DateSent%3E=2020-01-01" in page["next_page_uri"]
    assert "PageToken=PA" in page["next_page_uri"]


def test_throttle_storm_answers_20429_with_retry_after_only_when_given(tw: Twilio) -> None:
    tw.admin("POST", "/faults/twilio", {"throttle": {"count": 1, "retry_after": 2}})
    with_header = tw.send(To=TO, Body="x")
    tw.admin("POST", "/faults/twilio", {"throttle": {"count": 1}})
    without = tw.send(To=TO, Body="x")

    _error(with_header, 429, 20429)
    assert with_header.headers["Retry-After"] == "2"
    assert with_header.json()["message"] == "Too Many Requests"
    _error(without, 429, 20429)
    assert "Retry-After" not in without.headers
    assert tw.send(To=TO, Body="x").status_code == 201


def test_an_injected_record_error_answers_that_send(tw: Twilio) -> None:
    tw.admin(
        "POST",
        "/faults/twilio",
        {"record_errors": {OTHER: {"code": "30007", "message": "Message filtered", "status": 400}}},
    )

    _error(tw.send(To=OTHER, Body="x"), 400, 30007)
    assert tw.send(To=TO, Body="x").status_code == 201


def test_stats_count_calls_and_records_exactly(tw: Twilio) -> None:
    first = tw.send(To=TO, Body="a").json()
    tw.send(To=OTHER, Body="b")
    tw.send(To="12345", Body="c")  # refused: a call, not a record
    tw.list(To=TO)
    tw.get(first["uri"])

    stats = tw.admin("GET", "/stats")["twilio"]

    assert stats["calls"] == 5
    assert stats["records_written"] == 2
    assert stats["records_written_by_object"] == {"Messages": 2}
    assert stats["calls_by_endpoint"] == {
        "GET /2010-04-01/Accounts/{id}/Messages.json": 1,
        "GET /2010-04-01/Accounts/{id}/Messages/{id}": 1,
        "POST /2010-04-01/Accounts/{id}/Messages.json": 3,
    }
    assert stats["errors_by_status"] == {"400": 1}


def test_records_route_finds_messages_by_field(tw: Twilio) -> None:
    sid = tw.send(To=TO, Body="find me").json()["sid"]
    tw.send(To=OTHER, Body="other")

    by_to = tw.admin("GET", f"/records/twilio/Messages?field=to&value=%2B{TO[1:]}")
    by_sid = tw.admin("GET", f"/records/twilio/Messages?field=sid&value={sid}")

    assert by_to["count"] == 1
    assert by_to["records"][0]["body"] == "find me"
    assert by_sid["records"][0]["to"] == TO


def test_reset_forgets_messages(tw: Twilio) -> None:
    tw.send(To=TO, Body="x")

    tw.admin("POST", "/reset", {"what": ["data"]})

    assert tw.list().json()["messages"] == []


def test_twilios_own_rest_client_works_against_the_emulator(tw: Twilio) -> None:
    from twilio.rest import Client

    client = Client(tw.creds.twilio_account_sid, tw.creds.twilio_auth_token)
    client.api.base_url = tw.sb.urls["twilio"]

    sent = client.messages.create(to=TO, from_=tw.creds.twilio_from, body="from the SDK")
    listed = client.messages.list(to=TO, limit=5)
    fetched = client.messages(sent.sid).fetch()

    assert sent.status == "queued"
    assert [m.sid for m in listed] == [sent.sid]
    assert fetched.body == "from the SDK"
    assert fetched.date_created is not None


def test_the_spec_validator_rejects_what_twilio_would_not_send() -> None:
    wrong = {"num_segments": 1, "date_sent": "2026-11-22T19:06:26Z", "sid": "SM1", "status": "ok"}

    with pytest.raises(AssertionError) as caught:
        assert_matches_spec(MESSAGE_SCHEMA, wrong)

    assert "is not of type 'string'" in str(caught.value)
    assert "date-time-rfc-2822" in str(caught.value)
    assert "does not match" in str(caught.value)
