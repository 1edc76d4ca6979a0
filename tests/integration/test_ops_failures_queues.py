"""`failures` over the SMS outbox and the inbox, with rows dead-lettered by the engine's own
`dead_letters.bury`: listed with masked numbers, retried back into their queue's claim (a
text that was tried comes back to be reconciled before any re-send), dropped for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.domain.model import CrmRef
from connector.engine.dead_letters import DeadLetter, bury
from connector.ops.failure_actions import drop, history, retry
from connector.ops.failures import list_failures
from connector.store import SqlStore, failure_ledger, inbox, sms_outbox

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TO = "+14155552671"


def dead_text(store: SqlStore, key: str) -> int:
    with store.begin() as conn:
        sms_outbox.enqueue(
            conn,
            key,
            to=TO,
            body=f"hi, call {TO}",
            send_at=T0,
            now=T0,
            contact=CrmRef("Lead", "00Q1"),
            play="welcome",
        )
        (row,) = sms_outbox.claim(conn, "w1", 1, 30, T0)
        letter = DeadLetter(
            "sms",
            row.id,
            key,
            row.attempts,
            "permanent",
            "21610",
            "Twilio 21610: attempt to send to unsubscribed recipient",
        )
        assert bury(conn, letter, T0, "w1")
        return row.id


def test_sms_and_inbox_dead_letters_are_listed_retried_and_dropped(store: SqlStore) -> None:
    first = dead_text(store, "k:one")
    second = dead_text(store, "k:two")
    with store.begin() as conn:
        inbox.insert_if_new(conn, "SMin", "inbound", {"From": TO, "Body": "hello"}, T0)
        (item,) = inbox.claim(conn, "w1", 1, 30, T0)
        letter = DeadLetter("inbox", item.id, "SMin", 1, "permanent", "KeyError", "no To")
        assert bury(conn, letter, T0, "w1")
        found = {f.id: f for f in list_failures(conn)}
    assert set(found) == {f"sms-{first}", f"sms-{second}", f"inbox-{item.id}"}
    text = found[f"sms-{first}"]
    assert (text.state, text.code, text.record, text.attempts) == ("dead", "21610", "Lead/00Q1", 1)
    assert text.payload == {
        "to": "+1415***2671",
        "body": "hi, call +1415***2671",
        "play": "welcome",
    }
    assert found[f"inbox-{item.id}"].payload == {"From": "+1415***2671", "Body": "hello"}

    later = T0 + timedelta(minutes=5)
    with store.begin() as conn:
        done = retry(conn, [("sms", first), ("inbox", item.id)], "ana", later)
        assert [d.failure.id for d in done] == [f"sms-{first}", f"inbox-{item.id}"]
        # back in their queues: the text to be reconciled first, the event to be ingested
        (again,) = sms_outbox.claim(conn, "w2", 5, 30, later)
        assert (again.id, again.reconcile_first, again.attempts) == (first, True, 1)
        (event,) = inbox.claim(conn, "w2", 5, 30, later)
        assert event.provider_id == "SMin"
        drop(conn, [("sms", second)], "ana", "customer asked us to stop", later)
        assert history(conn, "sms", second) == [
            {
                "action": "drop",
                "by": "ana",
                "why": "customer asked us to stop",
                "at": later.isoformat(),
            }
        ]
        assert failure_ledger.get_open(conn, "sms", "k:two") is None
        gone = sms_outbox.get(conn, second)
        assert gone is not None
        assert gone.state == "dead"
        assert sms_outbox.claim(conn, "w3", 5, 30, later) == []  # only k:one, still leased
        left = {f.id for f in list_failures(conn)}
    # the retried ones are in flight (claimed), the dropped one is gone from the list
    assert left == {f"sms-{first}", f"inbox-{item.id}"}
