"""The body of a `POST /api/send`, checked whole before anything else looks at it.

Every refusal is a `BadRequest` (answered 400) naming the field and the rule, never echoing
the value (it may be the contact's text). The checks are what keeps a request from
reaching the database or the provider as something they would refuse with an error of
their own: JSON nested past `MAX_JSON_DEPTH` (Python's parser would recurse until it
fails), a NUL or a lone surrogate (neither can be stored), an over-long id or key (wider
than its column), a text over Twilio's 1,600 characters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from connector.domain.model import MAX_SMS_CHARS

MAX_JSON_DEPTH = 4  # the request is one flat object; a little room for clients' habits
MAX_KEY_CHARS = 64  # a UUID is 36
MAX_CONTACT_CHARS = 64  # the width of a contact id in the store
MAX_PLAY_CHARS = 128
FIELDS = ("contact", "play", "body", "dry_run", "idempotency_key")


class BadRequest(Exception):  # noqa: N818 - a request the caller must fix: becomes a 400
    pass


@dataclass(frozen=True, slots=True)
class SendRequest:
    contact: str
    play: str
    body: str | None
    dry_run: bool
    idempotency_key: str | None

    @property
    def fingerprint(self) -> str:
        """What a repeat of the idempotency key must ask for again."""
        asked = json.dumps([self.contact, self.play, self.body], ensure_ascii=True)
        return hashlib.sha256(asked.encode()).hexdigest()


def depth_within(raw: bytes, limit: int) -> bool:
    """True when no array or object in the JSON text nests deeper than `limit`.

    One pass over the bytes, strings skipped, before the parser (which recurses) runs."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return True


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{name}' must be a non-empty string")
    if "\x00" in value:
        raise BadRequest(f"'{name}' contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"'{name}' is not valid Unicode text (a lone surrogate)") from None
    if len(value) > limit:
        raise BadRequest(f"'{name}' is {len(value):,} characters; the limit is {limit:,}")
    return value


def parse(raw: bytes) -> SendRequest:
    if not depth_within(raw, MAX_JSON_DEPTH):
        raise BadRequest(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("'dry_run' must be true or false")
    body = _text(data, "body", MAX_SMS_CHARS)
    return SendRequest(
        contact=_text(data, "contact", MAX_CONTACT_CHARS, required=True) or "",
        play=_text(data, "play", MAX_PLAY_CHARS, required=True) or "",
        body=body,
        dry_run=dry_run,
        idempotency_key=_text(data, "idempotency_key", MAX_KEY_CHARS),
    )
