"""The Twilio emulator's admin routes, mounted at `/__sandbox/twilio/`: play the handset
(inbound texts, opening a shortened link), move the network (tick, flush), and set its
knobs (and the Link Shortening domain's config: its domain and click callback URL).

Routes that make the network act (inbound, tick, flush) answer once the webhooks they
caused have been delivered, so a test can assert right after the call returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from connector.sandbox.twilio.messages import StatusDelays
from connector.sandbox.twilio.network import NetworkKnobs
from connector.sandbox.twilio.numbers import CARRIER_ERRORS, FailStatus, NumberKind, normalize

if TYPE_CHECKING:
    from connector.sandbox.twilio.emulator import TwilioEmulator


M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class WebhookTarget(_Strict):
    base_url: str = Field(pattern=r"^https?://")


class Inbound(_Strict):
    from_: str = Field(alias="from")
    to: str | None = None
    body: str = Field(max_length=1600)


class OpenLink(_Strict):
    url: str = Field(min_length=1, description="the short link as the handset got it")
    user_agent: str = Field(default="", max_length=1000)


class LinkShortening(_Strict):
    domain: str = Field(default="sms.acme.test", pattern=r"^[a-z0-9.-]+$")
    callback_url: str | None = Field(default=None, pattern=r"^https?://")


class Tick(_Strict):
    advance_s: float = Field(default=0.0, ge=0)
    wait: bool = True


class KeywordHandling(_Strict):
    builtin: bool


class NumberRegistration(_Strict):
    number: str = Field(min_length=1)
    kind: NumberKind
    status: FailStatus = "undelivered"
    error_code: int = 30003


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise TypeError("body must be a JSON object")
    return data


class TwilioAdmin:
    """The routes, over one emulator."""

    def __init__(self, emu: TwilioEmulator) -> None:
        self.emu = emu

    async def parse(self, model: type[M], request: Request) -> M | JSONResponse:
        try:
            return model.model_validate(await _body(request))
        except (ValidationError, ValueError, TypeError) as exc:
            detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
            return _error(400, f"invalid {model.__name__}: {exc}", detail=detail)

    async def webhook(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            target = await self.parse(WebhookTarget, request)
            if isinstance(target, JSONResponse):
                return target
            self.emu.webhook_base_url = target.base_url.rstrip("/")
        return JSONResponse({"base_url": self.emu.webhook_base_url})

    async def inbound(self, request: Request) -> JSONResponse:
        sms = await self.parse(Inbound, request)
        if isinstance(sms, JSONResponse):
            return sms
        sender = normalize(sms.from_)
        if sender is None:
            return _error(400, "'from' is not a valid phone number")
        to = sms.to or self.emu.default_from
        if to not in self.emu.own_numbers:
            return _error(
                400, "'to' is not a number of this account", numbers=sorted(self.emu.own_numbers)
            )
        message, matched = self.emu.receive(sender, to, sms.body)
        await self.emu.network.drain()
        return JSONResponse(
            {
                "sid": message.sid,
                "opt_out_type": matched,
                "message": message.resource(),
                "deliveries": [d for d in self.emu.network.log if d["sid"] == message.sid],
            }
        )

    async def open_link(self, request: Request) -> JSONResponse:
        """The handset opens a shortened link: Twilio redirects it to the long URL and
        posts the signed click event to the domain's callback URL."""
        opened = await self.parse(OpenLink, request)
        if isinstance(opened, JSONResponse):
            return opened
        with self.emu.lock:
            link = self.emu.shortener.find(opened.url)
            if link is None:
                return _error(404, "no such short link on this account's domain")
            message = self.emu.store.by_sid.get(link.sid)
            sender = message.from_ if message is not None else None
            body = self.emu.shortener.event(
                link,
                account_sid=self.emu.account_sid,
                sender=sender,
                agent=opened.user_agent,
                now=self.emu.state.clock.now(),
            )
            url = self.emu.click_url()
        token = self.emu.credentials.twilio_auth_token
        delivery = await self.emu.shortener.post(token, url, body)
        return JSONResponse({"location": link.long_url, "sid": link.sid, "delivery": delivery})

    async def link_shortening(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            config = await self.parse(LinkShortening, request)
            if isinstance(config, JSONResponse):
                return config
            with self.emu.lock:
                self.emu.shortener.domain = config.domain
                self.emu.shortener.callback_url = config.callback_url
        short = self.emu.shortener
        return JSONResponse({"domain": short.domain, "callback_url": self.emu.click_url()})

    async def tick(self, request: Request) -> JSONResponse:
        order = await self.parse(Tick, request)
        if isinstance(order, JSONResponse):
            return order
        if order.advance_s:
            self.emu.state.clock.advance(order.advance_s)
        applied = self.emu.process_due()
        if self.emu.store.pending:
            self.emu.arm()
        if order.wait:
            await self.emu.network.drain()
        return JSONResponse(
            {
                "now": self.emu.state.clock.now().isoformat(),
                "transitions": applied,
                "pending": len(self.emu.store.pending),
                "held": sum(len(h) for h in self.emu.network.held.values()),
            }
        )

    async def flush(self, _: Request) -> JSONResponse:
        with self.emu.lock:
            released = self.emu.network.release()
        await self.emu.network.drain()
        return JSONResponse({"released": released})

    async def deliveries(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            with self.emu.lock:
                self.emu.network.log.clear()
            return JSONResponse({"count": 0, "deliveries": []})
        kind, sid = request.query_params.get("kind"), request.query_params.get("sid")
        with self.emu.lock:
            found = [
                d
                for d in self.emu.network.log
                if (kind is None or d["kind"] == kind) and (sid is None or d["sid"] == sid)
            ]
        return JSONResponse({"count": len(found), "deliveries": found})

    async def network(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            knobs = await self.parse(NetworkKnobs, request)
            if isinstance(knobs, JSONResponse):
                return knobs
            with self.emu.lock:
                self.emu.network.configure(knobs)
        return JSONResponse(self.emu.network.knobs.model_dump())

    async def delays(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            chosen = await self.parse(StatusDelays, request)
            if isinstance(chosen, JSONResponse):
                return chosen
            with self.emu.lock:
                self.emu.delays = chosen
        return JSONResponse(self.emu.delays.model_dump())

    async def numbers(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            reg = await self.parse(NumberRegistration, request)
            if isinstance(reg, JSONResponse):
                return reg
            if reg.kind == "unreachable" and reg.error_code not in CARRIER_ERRORS:
                return _error(
                    400, "error_code must be a carrier error", codes=sorted(CARRIER_ERRORS)
                )
            with self.emu.lock:
                self.emu.numbers.register(
                    reg.number, reg.kind, status=reg.status, error_code=reg.error_code
                )
        with self.emu.lock:
            return JSONResponse(self.emu.numbers.snapshot())

    async def optouts(self, _: Request) -> JSONResponse:
        with self.emu.lock:
            pairs = sorted(self.emu.optouts)
        return JSONResponse({"optouts": [{"scope": s, "number": n} for s, n in pairs]})

    async def keywords(self, request: Request) -> JSONResponse:
        """Twilio's built-in keyword handling (on by default) and what it answered."""
        if request.method == "POST":
            chosen = await self.parse(KeywordHandling, request)
            if isinstance(chosen, JSONResponse):
                return chosen
            with self.emu.lock:
                self.emu.builtin_keywords = chosen.builtin
        to = request.query_params.get("to")
        with self.emu.lock:
            replies = [r for r in self.emu.auto_replies if to is None or r["to"] == to]
            return JSONResponse({"builtin": self.emu.builtin_keywords, "auto_replies": replies})

    def routes(self) -> list[BaseRoute]:
        rw = ["GET", "POST"]
        return [
            Route("/webhook", self.webhook, methods=rw),
            Route("/inbound", self.inbound, methods=["POST"]),
            Route("/tick", self.tick, methods=["POST"]),
            Route("/open-link", self.open_link, methods=["POST"]),
            Route("/link-shortening", self.link_shortening, methods=rw),
            Route("/flush", self.flush, methods=["POST"]),
            Route("/deliveries", self.deliveries, methods=["GET", "DELETE"]),
            Route("/network", self.network, methods=rw),
            Route("/delays", self.delays, methods=rw),
            Route("/numbers", self.numbers, methods=rw),
            Route("/optouts", self.optouts, methods=["GET"]),
            Route("/keywords", self.keywords, methods=rw),
        ]


def routes(emu: TwilioEmulator) -> list[BaseRoute]:
    return TwilioAdmin(emu).routes()
