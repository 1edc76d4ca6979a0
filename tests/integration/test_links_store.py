"""Tracked links in the store, on SQLite and Postgres: a text's links are made once (a
retried send carries the same URLs), a click is recorded once per link and kind, one
worker takes a counted click, and an unknown or expired token records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from connector.domain.links import LinkSpec
from connector.domain.model import CrmRef
from connector.domain.plays import Outcome, Play, Timing, Trigger, TriggerKind
from connector.domain.templates import Template
from connector.engine.clicks import record, record_provider
from connector.engine.links import LinkError, LinkMaker
from connector.engine.outbox_keys import play_key
from connector.store import SqlStore, links, sms_outbox
from connector.store import tables as tb
from connector.store.report_clicks import PlayClicks, clicks_by_play
from connector.store.report_scope import Scope

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
REF = CrmRef("Contact", "003000000000001AAA")
PHONE = "+12125550123"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1"
PLAY = Play(
    "speed_to_lead",
    "sdr",
    90,
    Outcome(disposition="interested"),
    Trigger(TriggerKind.STAGE_ENTERED, to_value="mql"),
    Timing(),
    Template("Pricing: ${link:pricing} or https://acme.example/demo"),
    links={
        "pricing": LinkSpec(
            "pricing",
            "https://acme.example/pricing",
            "https://acme.example/pricing?utm_source=sms",
            high_intent=True,
        ),
        "demo": LinkSpec("demo", "https://acme.example/demo"),
    },
)
MAKER = LinkMaker("https://smsync.acme.example", timedelta(days=30))


def _queued(store: SqlStore, body: str) -> int:
    with store.begin() as conn:
        key = play_key("speed_to_lead", REF, NOW)
        sms_outbox.enqueue(
            conn, key, to=PHONE, body=body, send_at=NOW, now=NOW, contact=REF, play=PLAY.name
        )
        row = sms_outbox.by_key(conn, key)
    assert row is not None
    return row.id


def test_links_are_made_once_per_text_and_a_retry_carries_the_same_urls(store: SqlStore) -> None:
    row_id = _queued(store, "Pricing: ${link:pricing} or https://acme.example/demo")
    with store.begin() as conn:
        row = sms_outbox.get(conn, row_id)
        assert row is not None
        first = MAKER.body(conn, row, PLAY, NOW)
        again = MAKER.body(conn, row, PLAY, NOW + timedelta(minutes=5))
    assert first == again
    urls = first.split()
    assert urls[1].startswith("https://smsync.acme.example/l/")
    assert urls[3].startswith("https://smsync.acme.example/l/")  # the plain URL, tracked
    assert urls[1] != urls[3]
    assert PHONE not in first
    assert REF.id not in first
    with store.begin() as conn:
        made = links.for_outbox(conn, row_id)
        pricing = links.by_token(conn, made["pricing"])
    assert set(made) == {"pricing", "demo"}
    assert pricing is not None
    assert pricing.destination == "https://acme.example/pricing?utm_source=sms"
    assert pricing.high_intent
    assert pricing.expires_at == NOW + timedelta(days=30)


def test_an_undeclared_link_is_refused_at_send(store: SqlStore) -> None:
    row_id = _queued(store, "See ${link:secret}")
    with store.begin() as conn:
        row = sms_outbox.get(conn, row_id)
        assert row is not None
        with pytest.raises(LinkError, match="link secret is not declared"):
            MAKER.body(conn, row, PLAY, NOW)
        assert links.for_outbox(conn, row_id) == {}


def test_a_click_is_recorded_once_per_kind_and_taken_by_one_worker(store: SqlStore) -> None:
    row_id = _queued(store, "Pricing: ${link:pricing}")
    with store.begin() as conn:
        row = sms_outbox.get(conn, row_id)
        assert row is not None
        MAKER.body(conn, row, PLAY, NOW)
        token = links.for_outbox(conn, row_id)["pricing"]
    later = NOW + timedelta(minutes=2)
    with store.begin() as conn:
        bot = record(conn, token, "Twitterbot/1.0", later)
        person = record(conn, token, BROWSER, later)
        twice = record(conn, token, BROWSER, later + timedelta(seconds=5))
        unknown = record(conn, "B" * 22, BROWSER, later)
        expired = record(conn, token, BROWSER, NOW + timedelta(days=31))
    assert bot is not None
    assert bot.flag.value == "previewer"
    assert person is not None
    assert (person.flag.value, person.first) == ("counted", True)
    assert twice is not None
    assert not twice.first
    assert unknown is None
    assert expired is None
    with store.begin() as conn:
        assert links.counts(conn) == {"counted": 1, "previewer": 1}
        [pending] = links.pending(conn, 10)
        assert links.last_counted_at(conn, REF) == later
        assert links.mark_processed(conn, pending.id, later)
        assert not links.mark_processed(conn, pending.id, later)  # a second worker: no
        assert links.pending(conn, 10) == []
        total = conn.execute(sa.select(sa.func.count()).select_from(tb.link_clicks)).scalar()
    assert total == 2


def test_clicks_by_play_for_the_report(store: SqlStore) -> None:
    first = _queued(store, "Pricing: ${link:pricing} or https://acme.example/demo")
    with store.begin() as conn:
        row = sms_outbox.get(conn, first)
        assert row is not None
        MAKER.body(conn, row, PLAY, NOW)
        made = links.for_outbox(conn, first)
        second_key = play_key("speed_to_lead", CrmRef("Contact", "003000000000002AAA"), NOW)
        sms_outbox.enqueue(
            conn,
            second_key,
            to="+12125550124",
            body="Pricing: ${link:pricing}",
            send_at=NOW,
            now=NOW,
            contact=CrmRef("Contact", "003000000000002AAA"),
            play=PLAY.name,
        )
        other = sms_outbox.by_key(conn, second_key)
        assert other is not None
        MAKER.body(conn, other, PLAY, NOW)
        later = NOW + timedelta(minutes=3)
        record(conn, made["pricing"], BROWSER, later)
        record(conn, made["demo"], BROWSER, later)  # the same text: clicked once
        record(conn, made["demo"], "WhatsApp/2.23", later)
        found = clicks_by_play(conn, Scope(NOW - timedelta(days=1), NOW + timedelta(days=1)))
        assert clicks_by_play(conn, Scope(NOW + timedelta(days=1), NOW + timedelta(days=2))) == {}
        # a click after the period ends is not counted in it
        before = clicks_by_play(conn, Scope(NOW - timedelta(days=1), NOW + timedelta(minutes=2)))
    # two texts with links to two contacts; one clicked (twice: one text), one fetch a preview
    assert found == {"speed_to_lead": PlayClicks("speed_to_lead", 2, 2, 1, 1)}
    assert found["speed_to_lead"].click_rate == 0.5
    assert before == {"speed_to_lead": PlayClicks("speed_to_lead", 2, 2, 0, 0)}


def test_a_text_too_long_once_its_links_are_made_is_refused(store: SqlStore) -> None:
    row_id = _queued(store, "x" * 1570 + " ${link:pricing}")  # 1,586: fits, until made
    with store.begin() as conn:
        row = sms_outbox.get(conn, row_id)
        assert row is not None
        with pytest.raises(LinkError, match="the limit is 1,600"):
            MAKER.body(conn, row, PLAY, NOW)


def test_a_provider_click_finds_its_link_by_message_sid_and_long_url(store: SqlStore) -> None:
    """SMSYNC_LINK_TRACKING=twilio: the text carries the destinations themselves, and a
    click event (message sid + long link) records once on the right link, nothing for a
    sid or a link that text did not carry."""
    twilio = LinkMaker(None, timedelta(days=30), provider_shortens=True)
    row_id = _queued(store, "Pricing: ${link:pricing} or https://acme.example/demo")
    sid = "SM" + "1" * 32
    with store.begin() as conn:
        row = sms_outbox.get(conn, row_id)
        assert row is not None
        body = twilio.body(conn, row, PLAY, NOW)
        assert sms_outbox.mark_sent(conn, row_id, sid, NOW)
    assert (
        body == "Pricing: https://acme.example/pricing?utm_source=sms or https://acme.example/demo"
    )
    later = NOW + timedelta(minutes=2)
    with store.begin() as conn:
        assert (
            record_provider(conn, "SM" + "2" * 32, "https://acme.example/demo", BROWSER, later)
            is None
        )
        assert record_provider(conn, sid, "https://evil.example/", BROWSER, later) is None
        demo = record_provider(conn, sid, "https://acme.example/demo/", BROWSER, later)
        again = record_provider(conn, sid, "https://acme.example/demo", BROWSER, later)
        fast = record_provider(
            conn, sid, PLAY.links["pricing"].target, BROWSER, NOW + timedelta(milliseconds=500)
        )
    assert demo is not None
    assert demo.first
    assert demo.flag.value == "counted"
    assert again is not None
    assert not again.first
    assert fast is not None
    assert fast.flag.value == "too_fast"
    with store.begin() as conn:
        assert links.counts(conn) == {"counted": 1, "too_fast": 1}
