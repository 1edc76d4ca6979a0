"""The Twilio Programmable Messaging emulator: the Messages REST resource, plus the phone
network behind it (status progression on the sandbox clock, signed webhooks, opt-outs).

The credentials' `twilio_from` is the account's one number and sits in the pool of its
Messaging Service, so an opt-out sent to that number blocks sends from the number and
from the service alike (Advanced Opt-Out scopes opt-outs to the service).

Keywords as Twilio handles them on long codes by default: a one-word STOP (or alias)
blocks the number (21610 on later sends), START lifts the block, and Twilio answers each
itself, before it posts the webhook with `OptOutType`: the opt-out confirmation, the
re-subscribe note (when a block was lifted), the HELP answer (not to a STOPped number).
Those answers are not Messages resources; they are kept in `auto_replies`. Anything else
("STOP please", "no me envíes más") Twilio neither blocks nor answers: that is the
sender's to honour and confirm. `builtin_keywords = False` is an account whose built-in
handling Twilio support switched off: no block, no answer, no OptOutType."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import threading
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.asgi import ASGIApp, Receive, Scope, Send
from connector.sandbox.core import Credentials, SandboxState
from connector.sandbox.seed import SeedData
from connector.sandbox.twilio import errors
from connector.sandbox.twilio.messages import (
    API_VERSION,
    PRICE_PER_SEGMENT,
    DateFilter,
    MessageStore,
    StatusDelays,
    StoredMessage,
    Transition,
    new_sid,
    plan,
)
from connector.sandbox.twilio.network import Keyword, Network, Webhook, keyword
from connector.sandbox.twilio.numbers import NumberBook, geo_fields, normalize, segments
from connector.sandbox.twilio.shortener import Shortener
from connector.sandbox.vendors import Vendor

MAX_BODY = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
TICK_S = 0.05
TERMINAL = frozenset({"delivered", "undelivered", "failed"})
# Twilio's default answers to its keywords (help.twilio.com, "Twilio support for opt-out
# keywords"), sent by Twilio itself.
AUTO_REPLIES: dict[str, str] = {
    "STOP": (
        "You have successfully been unsubscribed. You will not receive any more messages"
        " from this number. Reply START to resubscribe."
    ),
    "START": (
        "You have successfully been re-subscribed to messages from this number. Reply HELP"
        " for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    ),
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}


def _form(raw: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(name, []).append(value)
    return out


def _phone_param(value: str | None) -> str | None:
    """A `+` sent unencoded in a query string arrives as a space; Twilio undoes that."""
    if value is None:
        return None
    if value.startswith(" ") and value[1:].isdigit():
        return "+" + value[1:]
    return value.strip()


@dataclass(frozen=True, slots=True)
class SendRequest:
    """The parameters of a Messages create call that the emulator acts on."""

    to: str
    sender: str | None
    service: str | None
    body: str
    media: int
    callback: str | None
    shorten: bool = False  # ShortenUrls=true: Link Shortening (Messaging Service sends)

    @classmethod
    def from_form(cls, form: dict[str, list[str]]) -> SendRequest:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values and values[0] else None

        return cls(
            to=one("To") or "",
            sender=one("From"),
            service=one("MessagingServiceSid"),
            body=one("Body") or "",
            media=sum(1 for url in form.get("MediaUrl", []) if url),
            callback=one("StatusCallback"),
            shorten=(one("ShortenUrls") or "").lower() == "true",
        )


class TwilioEmulator:
    """Twilio's Messages API and the phone network, over in-memory state."""

    vendor: Vendor = "twilio"

    def __init__(
        self,
        state: SandboxState,
        *,
        base_url: str,
        credentials: Credentials,
        webhook_base_url: str,
    ) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.account_sid = credentials.twilio_account_sid
        self.service_sid = credentials.twilio_messaging_service_sid
        self.default_from = credentials.twilio_from
        self.webhook_base_url = webhook_base_url.rstrip("/")
        self.own_numbers: set[str] = {self.default_from}
        self.service_numbers: set[str] = {self.default_from}
        self.numbers = NumberBook()
        self.store = MessageStore()
        self.delays = StatusDelays()
        self.optouts: set[tuple[str, str]] = set()  # (sender or service sid, number)
        self.builtin_keywords = True  # Twilio's default STOP/START/HELP handling
        self.auto_replies: list[dict[str, str]] = []  # what Twilio answered keywords with
        self.network = Network(credentials.twilio_auth_token, state.clock.now)
        self.shortener = Shortener()
        # handlers run on the sandbox loop; reset/seed/find may come from a test thread
        self.lock = threading.RLock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._app = self._build_app()

    # -- the Emulator protocol -------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        return self._asgi

    def throttled(self, retry_after: float | None) -> Response:
        return errors.too_many_requests(retry_after)

    def reset(self) -> None:
        with self.lock:
            self.store.clear()
            self.optouts.clear()
            self.shortener.reset()
            self.builtin_keywords = True
            self.auto_replies.clear()
            self.numbers.clear()
            self.delays = StatusDelays()
            self.network.reset()
            self.own_numbers = {self.default_from}
            self.service_numbers = {self.default_from}

    def seed(self, data: SeedData) -> dict[str, int]:
        """Seeded landlines answer 21614; seeded invalid numbers fail phonenumbers anyway."""
        with self.lock:
            for number in data.landlines:
                self.numbers.register(number, "landline")
        return {"Landlines": len(data.landlines)}

    def find(self, object_name: str, field: str, value: str) -> list[dict[str, Any]]:
        if object_name.lower() not in {"messages", "message"}:
            return []
        name = {"from_": "from"}.get(field, field).lower()
        with self.lock:
            if name == "sid":
                hit = self.store.by_sid.get(value)
                candidates = [hit] if hit is not None else []
            elif name in {"to", "from"}:
                index = self.store.by_to if name == "to" else self.store.by_from
                candidates = [self.store.by_sid[e[2]] for e in index.get(value, [])]
            else:
                candidates = list(self.store.by_sid.values())
            found = [m.resource() for m in candidates]
        return [r for r in found if name in r and str(r[name]) == value]

    def admin_routes(self) -> list[BaseRoute]:
        from connector.sandbox.twilio.admin import routes

        return routes(self)

    # -- the network -----------------------------------------------------------------

    def inbound_url(self) -> str:
        return f"{self.webhook_base_url}/webhooks/twilio/inbound"

    def status_url(self, message: StoredMessage) -> str:
        return message.status_callback or f"{self.webhook_base_url}/webhooks/twilio/status"

    def click_url(self) -> str:
        """Where Link Shortening posts click events (the domain config's callback URL)."""
        return self.shortener.callback_url or f"{self.webhook_base_url}/webhooks/twilio/click"

    def sender_scope(self, sender: str) -> str:
        """Whose opt-out list a sender uses: its Messaging Service's, else its own."""
        return self.service_sid if sender in self.service_numbers else sender

    def arm(self) -> None:
        """Keep the 50 ms progression timer running on this loop while work is pending."""
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer_loop is loop:
            return
        self._timer_loop = loop
        self._timer = loop.call_later(TICK_S, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.process_due()
        finally:
            if self.store.pending:
                self.arm()

    def process_due(self, now: datetime | None = None) -> list[dict[str, str]]:
        """Apply every status change due by `now`; each one sends a status callback.

        A message that ends releases its held callbacks when disorder is switched on."""
        applied: list[dict[str, str]] = []
        with self.lock:
            for when, change in self.store.due(now or self.state.clock.now()):
                message = self.store.by_sid.get(change.sid)
                if message is None:
                    continue
                self._apply(message, when, change)
                applied.append({"sid": message.sid, "status": message.status})
                self.network.send(self._status_hook(message))
                if message.status in TERMINAL:
                    self.network.release(message.sid)
        return applied

    def _apply(self, message: StoredMessage, when: datetime, change: Transition) -> None:
        message.status = change.status
        message.date_updated = when
        if change.status == "queued":
            self.store.assign_sender(message, self.default_from)
        if change.status == "sent":
            price = float(PRICE_PER_SEGMENT) * message.num_segments
            message.price = f"-{price:.5f}"
        if change.error_code is not None:
            message.error_code = change.error_code
            message.error_message = change.error_message

    def _status_hook(self, message: StoredMessage) -> Webhook:
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.from_ or "",
            "To": message.to,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return Webhook("status", message.sid, self.status_url(message), params)

    def receive(self, sender: str, to: str, body: str) -> tuple[StoredMessage, Keyword | None]:
        """A handset texts `to`: store the message, apply opt-out keywords, send the webhook."""
        now = self.state.clock.now()
        with self.lock:
            in_service = to in self.service_numbers
            message = StoredMessage(
                sid=new_sid(),
                account_sid=self.account_sid,
                seq=self.store.next_seq(),
                direction="inbound",
                status="received",
                to=to,
                from_=sender,
                body=body,
                num_segments=segments(body),
                num_media=0,
                date_created=now,
                date_sent=now,
                date_updated=now,
                messaging_service_sid=self.service_sid if in_service else None,
                price=f"-{float(PRICE_PER_SEGMENT) * segments(body):.5f}",
            )
            self.store.add(message)
            matched = keyword(body) if self.builtin_keywords else None
            self._answer(matched, (self.sender_scope(to), sender), to, now)
            params = {
                "MessageSid": message.sid,
                "SmsMessageSid": message.sid,
                "SmsSid": message.sid,
                "AccountSid": self.account_sid,
                "From": sender,
                "To": to,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": str(message.num_segments),
                "SmsStatus": "received",
                "ApiVersion": API_VERSION,
            }
            params.update(geo_fields(sender, "From"))
            params.update(geo_fields(to, "To"))
            if in_service:
                params["MessagingServiceSid"] = self.service_sid
            if matched is not None:
                params["OptOutType"] = matched
            self.network.send(Webhook("inbound", message.sid, self.inbound_url(), params))
        return message, matched

    def _answer(
        self, matched: Keyword | None, scope: tuple[str, str], to: str, now: datetime
    ) -> None:
        """Twilio's built-in handling: the block list, and its own answer to the handset."""
        was_out = scope in self.optouts
        if matched == "STOP":
            self.optouts.add(scope)
        elif matched == "START":
            self.optouts.discard(scope)
        answers = matched == "STOP" or (matched == "START" and was_out)
        answers = answers or (matched == "HELP" and not was_out)
        if matched is not None and answers:
            self.auto_replies.append(
                {
                    "to": scope[1],
                    "from": to,
                    "keyword": matched,
                    "body": AUTO_REPLIES[matched],
                    "at": now.isoformat(),
                }
            )

    # -- the REST API ----------------------------------------------------------------

    def _build_app(self) -> Starlette:
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"

        async def on_http_error(request: Request, exc: Exception) -> Response:
            if isinstance(exc, HTTPException) and exc.status_code == 405:
                return errors.twilio_error(20004, "Method not allowed", 405)
            return errors.not_found(request.url.path)

        return Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._create, methods=["POST"]),
                Route(f"{prefix}/Messages.json", self._list, methods=["GET"]),
                Route(f"{prefix}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ],
            exception_handlers={404: on_http_error, 405: on_http_error},
        )

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def _authorize(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return errors.unauthorized()
        ok_user = hmac.compare_digest(user.encode(), self.account_sid.encode())
        ok_pass = hmac.compare_digest(
            password.encode(), self.credentials.twilio_auth_token.encode()
        )
        if scheme.lower() != "basic" or not (ok_user and ok_pass):
            return errors.unauthorized()
        if request.path_params["account_sid"] != self.account_sid:
            return errors.not_found(request.url.path)
        return None

    async def _create(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        send = SendRequest.from_form(_form(await request.body()))
        refusal = self._param_refusal(send) or self._body_refusal(send)
        to = normalize(send.to)
        if refusal is None:
            refusal = self._recipient_refusal(send, to)
        if refusal is not None:
            return errors.bad_request(*refusal)
        assert to is not None  # _recipient_refusal refuses an invalid number
        injected = self.state.faults.record_error(self.vendor, to, send.to)
        if injected is not None:
            code: int | str = int(injected.code) if injected.code.isdigit() else injected.code
            return errors.twilio_error(code, injected.message, injected.status)
        message = self._store_outbound(send, to)
        self.state.record_writes(self.vendor, "Messages", 1)
        self.arm()
        return JSONResponse(message.resource(), status_code=201)

    def _param_refusal(self, send: SendRequest) -> tuple[int, str] | None:
        """Twilio's checks of the parameters themselves, in Twilio's order."""
        if not send.to:
            return 21604, "A 'To' phone number is required."
        if not send.sender and not send.service:
            return (
                21603,
                "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
            )
        if send.service and send.service != self.service_sid:
            return 21701, f"The Messaging Service Sid {send.service} is invalid."
        if send.sender and not send.service and send.sender not in self.own_numbers:
            return 21606, (
                f"The From phone number {send.sender} is not a valid, SMS-capable inbound "
                "phone number or short code for your account."
            )
        return None

    @staticmethod
    def _body_refusal(send: SendRequest) -> tuple[int, str] | None:
        if not send.body and not send.media:
            return 21602, "Message body is required."
        if len(send.body) > MAX_BODY:
            return 21617, "The concatenated message body exceeds the 1600 character limit."
        return None

    def _recipient_refusal(self, send: SendRequest, to: str | None) -> tuple[int, str] | None:
        """What the network knows about the recipient: validity, line type, opt-out."""
        if to is None or self.numbers.is_invalid(to):
            return 21211, f"The 'To' number {send.to} is not a valid phone number."
        if send.sender and to == send.sender:
            return 21266, "'To' and 'From' number cannot be the same"
        if self.numbers.is_landline(to):
            return 21614, "'To' number is not a valid mobile number"
        scope = send.service or self.sender_scope(send.sender or self.default_from)
        if (scope, to) in self.optouts:
            return 21610, "Attempt to send to unsubscribed recipient"
        return None

    def _store_outbound(self, send: SendRequest, to: str) -> StoredMessage:
        now = self.state.clock.now()
        with self.lock:
            sid = new_sid("MM" if send.media else "SM")
            body = send.body
            if send.shorten and send.service:
                body = self.shortener.shorten(body, sid=sid, to=to, service=send.service, now=now)
            message = StoredMessage(
                sid=sid,
                account_sid=self.account_sid,
                seq=self.store.next_seq(),
                direction="outbound-api",
                status="accepted" if send.service else "queued",
                to=to,
                from_=None if send.service else send.sender,
                body=body,
                num_segments=segments(body) if body else 1,
                num_media=send.media,
                date_created=now,
                date_sent=now,  # as Twilio's own create example: lets a DateSent> reconcile
                date_updated=now,
                messaging_service_sid=send.service,
                status_callback=send.callback,
            )
            self.store.add(message)
            steps = plan(
                now,
                initial=message.status,
                delays=self.delays,
                unreachable=self.numbers.unreachable.get(to),
            )
            for due, status, code, text in steps:
                self.store.schedule(due, Transition(message.sid, status, code, text))
        return message

    async def _fetch(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.process_due()  # a read shows what is due by the sandbox clock, as Twilio's would
        with self.lock:
            message = self.store.by_sid.get(request.path_params["sid"])
            resource = message.resource() if message is not None else None
        if resource is None:
            return errors.not_found(request.url.path)
        return JSONResponse(resource)

    async def _list(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.process_due()  # never a status the sandbox clock has already passed
        q = request.query_params
        to, sender = _phone_param(q.get("To")), _phone_param(q.get("From"))
        try:
            dates = DateFilter.from_params(
                q.get("DateSent"), q.get("DateSent<"), q.get("DateSent>")
            )
        except ValueError:
            return errors.bad_request(20001, "Invalid DateSent")
        try:
            size = min(int(q.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            page = int(q.get("Page", 0))
        except ValueError:
            return errors.bad_request(20001, "Invalid Page or PageSize")
        if size < 1 or page < 0:
            return errors.bad_request(20001, "Invalid Page or PageSize")
        token = q.get("PageToken")
        with self.lock:
            anchor = self.store.by_sid.get(token[2:]) if token else None
            if token and (anchor is None or token[:2] not in {"PA", "PB"}):
                return errors.bad_request(20001, "Invalid PageToken")
            found = functools.partial(self.store.select, to=to, from_=sender, dates=dates)
            if anchor is not None and token and token.startswith("PB"):
                chunk = list(islice(found(newer_than=anchor.key), size))[::-1]
                more = True
            else:
                skip = 0 if anchor is not None else page * size
                older = anchor.key if anchor is not None else None
                chunk = list(islice(found(older_than=older), skip, skip + size + 1))
                more = len(chunk) > size
                chunk = chunk[:size]
            resources = [m.resource() for m in chunk]
        filters = [
            (name, q[name])
            for name in ("To", "From", "DateSent", "DateSent<", "DateSent>")
            if name in q
        ]
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def uri(page_no: int, page_token: str | None) -> str:
            pairs = [*filters, ("PageSize", str(size)), ("Page", str(page_no))]
            if page_token:
                pairs.append(("PageToken", page_token))
            return f"{path}?{urlencode(pairs)}"

        start = page * size
        return JSONResponse(
            {
                "messages": resources,
                "end": start + max(len(resources) - 1, 0),
                "first_page_uri": uri(0, None),
                "next_page_uri": uri(page + 1, "PA" + chunk[-1].sid) if more and chunk else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": (
                    uri(page - 1, "PB" + chunk[0].sid) if page > 0 and chunk else None
                ),
                "start": start,
                "uri": uri(page, token),
            }
        )
