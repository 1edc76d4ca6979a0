"""Tracked links: what a play declares (`links:` name -> destination, UTM parameters, high
intent), how a template names one (`${link:pricing}`, or the declared URL written out
plainly), and how a click is judged (a link previewer or a click within a second of the
text's delivery is recorded but is no sign of intent).

Pure: the per-message token and its row live in the store (`connector.store.links`); this
module only finds the placeholders, builds the destination and reads a user agent."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum, unique

LINK_PATTERN = re.compile(r"\$\{link:([A-Za-z_][A-Za-z0-9_]*)\}")
CLICK_PATH = "/l/"  # GET /l/{token} on the sidecar
FAST_CLICK = timedelta(seconds=1)  # a click this soon after delivery is a machine's
TOKEN_BYTES = 16  # 128 bits of randomness, above the 96 the design asks for

# Link previewers and crawlers that fetch a URL when it is pasted or received (lower case,
# matched as substrings of the User-Agent). Apple's Messages previews announce themselves
# as "facebookexternalhit ... Twitterbot" in a Safari agent, caught by the first two.
PREVIEWERS: tuple[str, ...] = (
    "facebookexternalhit",
    "facebookcatalog",
    "twitterbot",
    "slackbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "applebot",
    "googlebot",
    "google-inspectiontool",
    "bingbot",
    "bingpreview",
    "skypeuripreview",
    "microsoftpreview",
    "pinterestbot",
    "redditbot",
    "embedly",
    "vkshare",
    "viber",
    "snapchat",
    "iframely",
    "outbrain",
    "yahoo! slurp",
    "duckduckbot",
    "yandexbot",
    "baiduspider",
    "petalbot",
    "mastodon",
    "headlesschrome",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
)


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One declared link of a play."""

    name: str
    url: str  # as declared, and as a template may write it out plainly
    destination: str = ""  # the URL with the play's UTM parameters (config.plays_links)
    high_intent: bool = False
    talk_track: str | None = None  # what the owner's task suggests saying

    @property
    def target(self) -> str:
        return self.destination or self.url


def link_names(text: str) -> list[str]:
    """The link names a text's `${link:NAME}` placeholders use, in order, repeats kept."""
    return LINK_PATTERN.findall(text)


def placeholder_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in LINK_PATTERN.finditer(text)]


def used_links(text: str, links: Mapping[str, LinkSpec]) -> list[str]:
    """The declared links a text carries: its placeholders (declared or not, so the
    caller can refuse an unknown one) and the declared URLs written out plainly."""
    names = list(dict.fromkeys(link_names(text)))
    for name, spec in links.items():
        if name not in names and spec.url in LINK_PATTERN.sub("", text):
            names.append(name)
    return names


def substitute(text: str, links: Mapping[str, LinkSpec], url_of: Callable[[str], str]) -> str:
    """The text with each placeholder and each plainly written declared URL replaced by
    `url_of(name)` (the per-message short URL). Unknown names raise KeyError."""
    plain = sorted(links.items(), key=lambda kv: -len(kv[1].url))  # the longest URL first
    by_url: dict[str, str] = {}
    for name, spec in plain:
        by_url.setdefault(spec.url, name)
    pattern = re.compile(
        "|".join([LINK_PATTERN.pattern, *(re.escape(spec.url) for _, spec in plain)])
    )

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # a declared URL written out plainly
            return url_of(by_url[match.group(0)])
        if name not in links:
            raise KeyError(name)
        return url_of(name)

    # one pass: a replacement that holds a declared URL (the destination itself, when the
    # provider shortens) is never matched again
    return pattern.sub(one, text)


@unique
class ClickFlag(StrEnum):
    COUNTED = "counted"  # a person's click: intent
    PREVIEWER = "previewer"  # a link previewer or crawler fetched it
    TOO_FAST = "too_fast"  # within FAST_CLICK of delivery: a machine's prefetch


def is_previewer(user_agent: str | None) -> bool:
    """A missing agent counts as a machine: every browser sends one."""
    if not user_agent or not user_agent.strip():
        return True
    lowered = user_agent.lower()
    return any(bot in lowered for bot in PREVIEWERS) or lowered.startswith("bot")


def judge(user_agent: str | None, delivered_at: datetime | None, now: datetime) -> ClickFlag:
    if is_previewer(user_agent):
        return ClickFlag.PREVIEWER
    if delivered_at is not None and timedelta(0) <= now - delivered_at < FAST_CLICK:
        return ClickFlag.TOO_FAST
    return ClickFlag.COUNTED


def click_words(link: str, play: str | None) -> str:
    """What the record's activity says: "Clicked pricing link from play speed_to_lead"."""
    return f"Clicked {link} link" + (f" from play {play}" if play else "")
