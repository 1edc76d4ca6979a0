"""The demo's clicks: some texted prospects open the pricing link in the text their phone
received, through the sidecar's real `GET /l/{token}` (the demo's served app), and one
link previewer (Slack unfurling a forwarded text) fetches a link too: it is recorded and
never counted. The jobs then turn each person's click into its activity and, the link
being high intent, the owner's follow-up task."""

from __future__ import annotations

import re
from collections.abc import Callable

import requests
import sqlalchemy as sa

from connector.demo.world import World
from connector.store import tables as tb

SHORT_URL = re.compile(r"https?://\S+/l/[A-Za-z0-9_-]{22}")
PHONE_BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PREVIEWER = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
SHARE = 2  # one texted prospect in SHARE opens the link


def _linked_phones(world: World) -> list[str]:
    """Numbers whose sent text carried a tracked link, in the order they were texted."""
    t, links = tb.sms_outbox, tb.tracked_links
    with world.store.begin() as conn:
        rows = conn.execute(
            sa.select(t.c.to_number)
            .join(links, links.c.outbox_id == t.c.id)
            .where(t.c.state == "sent")
            .order_by(t.c.id)
        ).scalars()
        return list(dict.fromkeys(rows))


def _links_received(world: World, phone: str) -> list[str]:
    """The short URLs in the texts the phone received (the Twilio emulator's handset)."""
    texts = world.sandbox.emulators["twilio"].find("Messages", "to", phone)
    return [url for text in texts for url in SHORT_URL.findall(str(text.get("body", "")))]


def _open(url: str, agent: str) -> None:
    with requests.Session() as http:
        http.trust_env = False
        answer = http.get(url, headers={"User-Agent": agent}, allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise RuntimeError(f"demo: a tracked link answered {answer.status_code}, not 302")


def click_through(world: World, progress: Callable[[int], None]) -> int:
    """Some prospects click; one previewer fetches; then the jobs run. Returns the clicks."""
    phones = _linked_phones(world)
    clicked = 0
    for i, phone in enumerate(phones):
        urls = _links_received(world, phone)
        if not urls:
            continue
        if i == min(1, len(phones) - 1):  # a forwarded text unfurled in Slack: not counted
            _open(urls[0], PREVIEWER)
        if i % SHARE == 0:
            _open(urls[0], PHONE_BROWSER)
            clicked += 1
            progress(1)
    world.run()
    return clicked
