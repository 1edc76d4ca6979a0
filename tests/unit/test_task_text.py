"""The words of a rep's task: due times in the owner's zone, the gist, the thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from connector.domain.model import ContactState, CrmRef, Direction, Message, MessageStatus
from connector.domain.sla import due_words, zone_abbreviation
from connector.engine.task_text import gist, person_name, record_lines, thread_of

NY = ZoneInfo("America/New_York")
# Thursday 3 December 2026, 15:00 UTC = 10:00 AM EST
THURSDAY = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_due_time_in_the_owners_zone_and_words() -> None:
    assert (
        due_words(THURSDAY, timedelta(hours=2), NY) == "by 10:00 AM Thursday ET, 2 business hours"
    )
    la = ZoneInfo("America/Los_Angeles")
    assert due_words(THURSDAY, timedelta(hours=1), la) == "by 7:00 AM Thursday PT, 1 business hour"
    assert due_words(THURSDAY, timedelta(minutes=90), NY).endswith("90 business minutes")
    assert due_words(THURSDAY, None, ZoneInfo("Europe/London")) == "by 3:00 PM Thursday GMT"


def test_zone_abbreviations_a_rep_says() -> None:
    summer = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
    assert zone_abbreviation(summer, NY) == "ET"  # EDT
    assert zone_abbreviation(THURSDAY, ZoneInfo("America/Chicago")) == "CT"
    assert zone_abbreviation(THURSDAY, ZoneInfo("Europe/Berlin")) == "CET"


def test_gist_of_each_disposition() -> None:
    assert gist("pricing_question") == "asked about pricing"
    assert gist("interested") == "is interested"
    assert gist("demo_request") == "replied (demo request)"


def _msg(
    sid: str, direction: Direction, at: datetime, body: str, play: str | None = None
) -> Message:
    return Message(
        sid, direction, "+15125550199", "+15125550100", body, MessageStatus.SENT, at, play
    )


def test_thread_is_the_latest_texts_oldest_first_in_the_zone() -> None:
    texts = [
        _msg("SM3", Direction.INBOUND, THURSDAY + timedelta(seconds=22), "How much?"),
        _msg("SM1", Direction.OUTBOUND, THURSDAY - timedelta(days=1), "old"),
        _msg("SM2", Direction.OUTBOUND, THURSDAY, "Hi Ben,\nquick question", "speed_to_lead"),
    ]
    thread = thread_of(texts, "Ben Ortiz", 2)
    assert thread.lines(NY) == (
        "[10:00 AM Thursday ET] Us (speed_to_lead): Hi Ben, quick question\n"
        "[10:00 AM Thursday ET] Ben Ortiz: How much?"
    )


def test_an_answer_stamped_to_the_second_follows_the_reply_it_answers() -> None:
    # Twilio's date_created has no fraction; the reply's intake time does
    reply = _msg("SMb", Direction.INBOUND, THURSDAY + timedelta(microseconds=193_000), "stop pls")
    confirm = _msg("SMa", Direction.OUTBOUND, THURSDAY, "You're unsubscribed.")
    later = _msg("SMc", Direction.INBOUND, THURSDAY + timedelta(seconds=1), "ok")
    thread = thread_of([later, confirm, reply], "Ben Ortiz", 3)
    assert [m.sid for m in thread.messages] == ["SMb", "SMa", "SMc"]


def test_names_and_record_lines() -> None:
    ref = CrmRef("Contact", "003A")
    state = ContactState(ref, "+15125550199", segments={"first_name": "Ben", "last_name": "Ortiz"})
    assert person_name(state, "+15125550199") == "Ben Ortiz"
    assert person_name(ContactState(ref, None), "+15125550199") == "+15125550199"
    assert person_name(None, "+15125550199") == "+15125550199"
    other = CrmRef("Lead", "00QB")
    lines = record_lines([ref, other], {ref: "https://x/lightning/r/Contact/003A/view"})
    assert lines == "- Contact 003A: https://x/lightning/r/Contact/003A/view\n- Lead 00QB"
