"""Tracked links, pure: placeholders and plainly written URLs are found and replaced, the
destination gets the play's UTM parameters, and user agents are judged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connector.config.plays_links import with_params
from connector.domain.governance import evaluate
from connector.domain.links import ClickFlag, LinkSpec, judge, substitute, used_links
from connector.domain.model import Verdict
from connector.domain.plays import Signal, SignalKind, Trigger, TriggerKind, fires_at
from connector.domain.templates import Template, scan
from tests.unit.governance_kit import NOON_NY, make_ctx, make_play, play_send, policy_with

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
LINKS = {
    "pricing": LinkSpec("pricing", "https://acme.example/pricing"),
    "demo": LinkSpec("demo", "https://acme.example/demo?ref=x"),
}


def test_a_link_placeholder_is_no_token_and_rendering_keeps_it() -> None:
    uses, bad = scan("Hi $first_name, ${link:pricing} costs $$5")
    assert [u.name for u in uses] == ["first_name"]
    assert bad == []
    text, missing = Template("Hi $first_name: ${link:pricing}").render({"first_name": "Ana"})
    assert (text, missing) == ("Hi Ana: ${link:pricing}", ())


def test_placeholders_and_plain_urls_are_replaced_by_the_messages_urls() -> None:
    text = "See ${link:pricing}, or book https://acme.example/demo?ref=x today"
    assert used_links(text, LINKS) == ["pricing", "demo"]
    out = substitute(text, LINKS, lambda name: f"https://s.example/l/{name.upper()}")
    assert out == "See https://s.example/l/PRICING, or book https://s.example/l/DEMO today"
    with pytest.raises(KeyError):
        substitute("${link:nope}", LINKS, str)


def test_a_replacement_holding_a_declared_url_is_not_replaced_again() -> None:
    """SMSYNC_LINK_TRACKING=twilio: the link becomes its destination, which starts with
    the declared URL; one pass keeps the UTM parameters from being added twice."""
    text = "See ${link:pricing} or https://acme.example/demo?ref=x"
    targets = {n: with_params(spec.url, {"utm_source": "sms"}) for n, spec in LINKS.items()}
    out = substitute(text, LINKS, targets.__getitem__)
    assert out == (
        "See https://acme.example/pricing?utm_source=sms or"
        " https://acme.example/demo?ref=x&utm_source=sms"
    )


def test_the_destination_carries_utm_and_keeps_the_urls_own_parameters() -> None:
    pricing = with_params("https://acme.example/pricing", {"utm_source": "sms"})
    assert pricing == "https://acme.example/pricing?utm_source=sms"
    demo = with_params("https://acme.example/demo?ref=x", {"ref": "sms", "utm_medium": "a b"})
    assert demo == "https://acme.example/demo?ref=x&utm_medium=a+b"


@pytest.mark.parametrize(
    "agent",
    [
        "facebookexternalhit/1.1",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0)",
        "Mozilla/5.0 (Macintosh) Safari/605.1.15 (Applebot/0.1)",
        "Mozilla/5.0 (Macintosh) Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "",
        None,
    ],
)
def test_previewers_are_flagged(agent: str | None) -> None:
    assert judge(agent, NOW - timedelta(hours=1), NOW) is ClickFlag.PREVIEWER


def test_a_person_counts_unless_within_a_second_of_delivery() -> None:
    phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36"
    assert judge(phone, NOW - timedelta(milliseconds=300), NOW) is ClickFlag.TOO_FAST
    assert judge(phone, NOW - timedelta(seconds=1), NOW) is ClickFlag.COUNTED
    assert judge(phone, None, NOW) is ClickFlag.COUNTED


def test_a_recent_click_suppresses_plays_except_those_answering_a_click() -> None:
    clicked = replace(make_ctx(), last_click_at=NOON_NY - timedelta(hours=2))
    nudge = make_play("nudge")
    answer = replace(make_play("pricing_answer"), trigger=Trigger(TriggerKind.LINK_CLICKED))
    policy = policy_with(nudge, answer)
    result = evaluate(play_send(nudge), clicked, policy, NOON_NY)
    assert [r.code for r in result.reasons] == ["active_conversation"]
    assert "tracked link clicked" in result.reasons[0].detail
    assert evaluate(play_send(answer), clicked, policy, NOON_NY).verdict is Verdict.ALLOW
    stale = replace(clicked, last_click_at=NOON_NY - timedelta(days=2))
    assert evaluate(play_send(nudge), stale, policy, NOON_NY).verdict is Verdict.ALLOW


def test_link_clicked_fires_for_its_link_or_any() -> None:
    signal = Signal(SignalKind.LINK_CLICKED, NOW, {"link": "pricing", "play": "speed_to_lead"})
    assert fires_at(Trigger(TriggerKind.LINK_CLICKED, form="pricing"), signal) == NOW
    assert fires_at(Trigger(TriggerKind.LINK_CLICKED), signal) == NOW
    assert fires_at(Trigger(TriggerKind.LINK_CLICKED, form="demo"), signal) is None
