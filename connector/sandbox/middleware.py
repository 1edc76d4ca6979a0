"""FaultMiddleware: one ASGI layer in front of every vendor app that counts each call and
applies latency, throttling storms, 5xx, connection resets and dropped responses, so every
vendor gets the same faults without its handlers knowing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import struct

from starlette.responses import Response

from connector.sandbox.asgi import Message, Receive, Scope, Send
from connector.sandbox.core import Emulator, SandboxState

# a Salesforce id always holds a digit (its key prefix, here also its counter), which tells it
# from an 18-letter sObject name such as OpportunityHistory
_ID_SEGMENT = re.compile(
    r"^(?:\d+|(?=[a-zA-Z]*\d)(?:[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})"
    r"|(?:SM|MM|AC|MG|PN)[0-9a-f]{32}(?:\.json)?)$"
)


def endpoint_key(method: str, path: str) -> str:
    """`PATCH /services/data/v62.0/sobjects/Lead/00Q...` -> `PATCH .../sobjects/Lead/{id}`."""
    parts = [
        "{id}" if _ID_SEGMENT.match(p) and not p.startswith("v") else p for p in path.split("/")
    ]
    return f"{method} {'/'.join(parts)}"


_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def _reset_connection(send: Send) -> bool:
    """Abort the TCP connection with RST, as a crashed peer or a middlebox would.

    uvicorn hands the app its cycle's bound `send`; its transport is the connection."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # let connection_lost mark the cycle disconnected, so uvicorn sends no 500 after us
    for _ in range(3):
        await asyncio.sleep(0)
    return True


class FaultMiddleware:
    """Counts every call and applies the vendor's injected faults around its app."""

    def __init__(self, emulator: Emulator, state: SandboxState) -> None:
        self.emulator = emulator
        self.state = state
        self.vendor = emulator.vendor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.emulator.app(scope, receive, send)
            return
        method: str = scope["method"]
        self.state.stats.call(self.vendor, endpoint_key(method, scope["path"]))
        faults = self.state.faults
        delay = faults.latency(self.vendor)
        if delay:
            await asyncio.sleep(delay)
        if faults.take(self.vendor, "resets"):
            self.state.stats.fault(self.vendor, "reset")
            if await _reset_connection(send):
                return
        storm = faults.take_throttle(self.vendor)
        if storm is not None:
            self.state.stats.fault(self.vendor, "throttle")
            await self._respond(self.emulator.throttled(storm.retry_after), scope, receive, send)
            return
        status = faults.take_server_error(self.vendor)
        if status is not None:
            self.state.stats.fault(self.vendor, "server_error")
            body = b'{"message":"injected server error"}'
            response = Response(body, status_code=status, media_type="application/json")
            await self._respond(response, scope, receive, send)
            return
        if method in _WRITE_METHODS and faults.take(self.vendor, "drop_after_commit"):
            self.state.stats.fault(self.vendor, "drop_after_commit")
            await self.emulator.app(scope, receive, _discard)
            await _reset_connection(send)
            return
        await self.emulator.app(scope, receive, self._counting(send))
        self._fire_kills()

    async def _respond(
        self, response: Response, scope: Scope, receive: Receive, send: Send
    ) -> None:
        await response(scope, receive, self._counting(send))

    def _counting(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.state.stats.served(self.vendor, int(message["status"]))
            await send(message)

        return wrapped

    def _fire_kills(self) -> None:
        while self.state.kills:
            pid, sig = self.state.kills.pop()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


async def _discard(message: Message) -> None:
    """Swallows the response of a write whose connection is about to be reset."""
