"""Tracked links at send time: the one place a queued text's `${link:NAME}` placeholders
(and the declared URLs written out plainly) become the message's own short URLs.

Whatever template produced the text (a play's, a variant's, a language's, a rep's send of
a play), its links are made here, right before the provider is called: one random token
per text and link (`secrets.token_urlsafe`, 128 bits), stored with the destination from
the plays file, the contact and the expiry (`SMSYNC_LINK_TTL_DAYS`). A retried or
reconciled send reuses the tokens already stored, so every attempt carries the same text.
The URL holds the token only: no phone number, no CRM id.

With `SMSYNC_LINK_TRACKING=twilio` the text carries the declared destination itself (with
the play's UTM parameters) and Twilio Link Shortening swaps it for its own short link at
send; the row is made all the same, keyed by the text and the link name, so Twilio's click
callback (the message sid and the long link) finds it (`engine/clicks.record_provider`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.config import Settings
from connector.domain.links import (
    CLICK_PATH,
    TOKEN_BYTES,
    LinkSpec,
    link_names,
    substitute,
    used_links,
)
from connector.domain.model import MAX_SMS_CHARS
from connector.domain.plays import Play
from connector.ports import Connection
from connector.store import links as store
from connector.store.records import SmsOutboxRow

DEFAULT_TTL = timedelta(days=30)


class LinkError(ValueError):
    """A queued text names a link its play does not declare, or links cannot be made."""


@dataclass(frozen=True, slots=True)
class LinkMaker:
    """Where short URLs point (`SMSYNC_PUBLIC_BASE_URL`) and how long they answer."""

    base_url: str | None = None
    ttl: timedelta = DEFAULT_TTL
    provider_shortens: bool = False  # SMSYNC_LINK_TRACKING=twilio

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkMaker:
        if settings.public_base_url:
            base = settings.public_base_url.rstrip("/")
        else:  # the sidecar's own address: fine on a laptop, not for texts to real phones
            base = f"http://{settings.http_host}:{settings.http_port}"
        return cls(
            base,
            timedelta(days=settings.link_ttl_days),
            provider_shortens=settings.link_tracking == "twilio",
        )

    def url(self, token: str) -> str:
        return f"{self.base_url}{CLICK_PATH}{token}"

    def problem(self, body: str, play: Play | None) -> str | None:
        """Why this text cannot go with its links, or None (also None without links)."""
        names = link_names(body)
        if not names:
            return None
        declared: Mapping[str, LinkSpec] = play.links if play is not None else {}
        unknown = sorted({n for n in names if n not in declared})
        if unknown:
            where = f"play {play.name!r}" if play is not None else "a text with no play"
            return f"link {', '.join(unknown)} is not declared by {where}"
        if self.base_url is None and not self.provider_shortens:
            return "tracked links need SMSYNC_PUBLIC_BASE_URL (the sidecar's public URL)"
        return None

    def body(self, conn: Connection, row: SmsOutboxRow, play: Play | None, now: datetime) -> str:
        """The text as it goes to the provider, each link replaced by its short URL."""
        links: Mapping[str, LinkSpec] = play.links if play is not None else {}
        problem = self.problem(row.body, play)
        if problem is not None:
            raise LinkError(problem)
        if not used_links(row.body, links):
            return row.body
        made = store.for_outbox(conn, row.id)

        def url_of(name: str) -> str:
            token = made.get(name)
            if token is None:
                spec = links[name]
                token = store.create(
                    conn,
                    token=secrets.token_urlsafe(TOKEN_BYTES),
                    outbox_id=row.id,
                    link=name,
                    play=row.play,
                    contact=row.contact,
                    destination=spec.target,
                    high_intent=spec.high_intent,
                    now=now,
                    expires_at=now + self.ttl,
                )
                made[name] = token
            return links[name].target if self.provider_shortens else self.url(token)

        out = substitute(row.body, links, url_of)
        if len(out) > MAX_SMS_CHARS:  # the provider would refuse it (Twilio 21617)
            raise LinkError(
                f"with its short URLs the text is {len(out):,} characters; the limit is"
                f" {MAX_SMS_CHARS:,}"
            )
        return out
