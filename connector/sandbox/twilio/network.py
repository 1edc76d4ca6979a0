"""Webhook delivery as the phone network does it: signed, retried once, and on demand
duplicated, out of order or lost. Also the Advanced Opt-Out keyword rules.

Deliveries for one message run one after another (a chain per message sid), so the
order the network chose is the order the receiver sees; different messages run in
parallel. Connections are not kept alive, so nothing is left open when the loop stops."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import random
import secrets
import string
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

Keyword = Literal["STOP", "START", "HELP"]
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
_TRAILING = string.punctuation + string.whitespace


def keyword(body: str) -> Keyword | None:
    """Advanced Opt-Out's default match: one word, any case, trailing punctuation ignored.

    "please stop texting me" is no keyword here; honouring it is the connector's job."""
    word = body.strip().rstrip(_TRAILING).upper()
    if not word or any(ch.isspace() for ch in word):
        return None
    if word in OPT_OUT:
        return "STOP"
    if word in OPT_IN:
        return "START"
    if word in HELP:
        return "HELP"
    return None


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + name1 + value1 + ...)), names sorted."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class NetworkKnobs(BaseModel):
    """How the network misbehaves; the defaults are a well-behaved network."""

    model_config = ConfigDict(extra="forbid")

    duplicates: int = Field(default=1, ge=1, le=20, description="copies of every webhook")
    out_of_order: Literal["reverse", "shuffle"] | None = Field(
        default=None,
        description="hold a message's status callbacks until it ends, then send them so",
    )
    shuffle_seed: int = 7
    retry: bool = Field(default=True, description="retry once on error or 5xx, as Twilio does")
    drop_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of webhooks lost before any attempt"
    )
    drop_seed: int = Field(default=7, description="seeds the choice of which webhooks drop")
    timeout_s: float = Field(default=15.0, gt=0, le=60)


@dataclass(slots=True)
class Webhook:
    """One event to deliver: an inbound message or a status change."""

    kind: Literal["inbound", "status"]
    sid: str
    url: str
    params: dict[str, str]
    token: str = field(default_factory=lambda: secrets.token_hex(16))


class Network:
    """Signs, sends, retries, duplicates and reorders webhooks; logs every attempt."""

    def __init__(self, auth_token: str, now: Callable[[], datetime]) -> None:
        self._auth_token = auth_token
        self._now = now
        self.knobs = NetworkKnobs()
        self.log: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.held: dict[str, list[Webhook]] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._rng = random.Random(self.knobs.shuffle_seed)
        self._drop_rng = random.Random(self.knobs.drop_seed)
        self._client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        self.knobs = NetworkKnobs()
        self._rng = random.Random(self.knobs.shuffle_seed)
        self._drop_rng = random.Random(self.knobs.drop_seed)
        self.log.clear()
        self.held.clear()

    def configure(self, knobs: NetworkKnobs) -> None:
        self.knobs = knobs
        self._rng = random.Random(knobs.shuffle_seed)
        self._drop_rng = random.Random(knobs.drop_seed)

    def send(self, hook: Webhook) -> None:
        """Queue `hook` for delivery (a status callback may be held for reordering)."""
        if hook.kind == "status" and self.knobs.out_of_order is not None:
            self.held.setdefault(hook.sid, []).append(hook)
            return
        self._chain(hook)

    def release(self, sid: str | None = None) -> int:
        """Send held callbacks (of one message, or all) in the configured disorder."""
        sids = [sid] if sid is not None else list(self.held)
        released = 0
        for key in sids:
            hooks = self.held.pop(key, [])
            if self.knobs.out_of_order == "shuffle":
                self._rng.shuffle(hooks)
            else:
                hooks.reverse()
            for hook in hooks:
                self._chain(hook)
            released += len(hooks)
        return released

    async def drain(self) -> None:
        """Wait until every delivery started so far (and any it led to) has finished."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def _chain(self, hook: Webhook) -> None:
        # decided here, in the order webhooks are sent, so a seed gives the same losses
        if self.knobs.drop_rate and self._drop_rng.random() < self.knobs.drop_rate:
            self.log.append(
                {
                    **self._entry(hook, "", 0, 0),
                    "error": "dropped by the network (drop_rate)",
                    "dropped": True,
                }
            )
            return
        previous = self._chains.get(hook.sid)
        task = asyncio.get_running_loop().create_task(self._deliver(hook, previous))
        self._chains[hook.sid] = task
        self._inflight.add(task)
        task.add_done_callback(lambda t: self._finished(hook.sid, t))

    def _finished(self, sid: str, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._chains.get(sid) is task:
            del self._chains[sid]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"User-Agent": "TwilioProxy/1.1"},
            )
        return self._client

    async def _deliver(self, hook: Webhook, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        for copy in range(1, self.knobs.duplicates + 1):
            attempts = 2 if self.knobs.retry else 1
            for attempt in range(1, attempts + 1):
                if await self._attempt(hook, copy, attempt):
                    break

    def _entry(self, hook: Webhook, sig: str, copy: int, attempt: int) -> dict[str, Any]:
        return {
            "kind": hook.kind,
            "sid": hook.sid,
            "url": hook.url,
            "params": dict(hook.params),
            "signature": sig,
            "copy": copy,
            "attempt": attempt,
            "at": self._now().isoformat(),
            "status_code": None,
            "error": None,
            "dropped": False,
        }

    async def _attempt(self, hook: Webhook, copy: int, attempt: int) -> bool:
        """One POST; True when the receiver answered below 500."""
        sig = signature(self._auth_token, hook.url, hook.params)
        headers = {
            "X-Twilio-Signature": sig,
            "I-Twilio-Idempotency-Token": hook.token,
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        entry = self._entry(hook, sig, copy, attempt)
        self.log.append(entry)
        try:
            response = await self._http().post(
                hook.url, data=hook.params, headers=headers, timeout=self.knobs.timeout_s
            )
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            return False
        entry["status_code"] = response.status_code
        return response.status_code < 500
