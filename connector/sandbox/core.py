"""What every emulator shares: a controllable clock, exact call statistics, and fault
injection applied by one ASGI middleware in front of each vendor app.

Vendor apps stay plain route tables with state; the middleware owns latency, throttling
storms, 5xx, connection resets and dropped responses, so every vendor gets them alike."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import struct
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.routing import BaseRoute

from connector.sandbox.seed import SeedData

Vendor = Literal["salesforce", "hubspot", "twilio"]
VENDORS: tuple[Vendor, ...] = ("salesforce", "hubspot", "twilio")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SandboxClock:
    """Real time plus an offset that tests and the admin API can move, or pin."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime, *, freeze: bool = False) -> datetime:
        if when.tzinfo is None:
            raise ValueError("clock time must carry a time zone")
        with self._lock:
            if freeze:
                self._frozen = when.astimezone(UTC)
            else:
                self._frozen = None
                self._offset = when.astimezone(UTC) - datetime.now(UTC)
        return self.now()

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None


class Stats:
    """Exact counters, read by tests and benchmarks to count API calls and records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, Counter[str]] = defaultdict(Counter)
            self._written: dict[str, Counter[str]] = defaultdict(Counter)
            self._throttled: Counter[str] = Counter()
            self._errors: dict[str, Counter[str]] = defaultdict(Counter)
            self._faults: dict[str, Counter[str]] = defaultdict(Counter)

    def call(self, vendor: str, endpoint: str) -> None:
        with self._lock:
            self._calls[vendor][endpoint] += 1

    def written(self, vendor: str, obj: str, n: int = 1) -> None:
        with self._lock:
            self._written[vendor][obj] += n

    def served(self, vendor: str, status: int) -> None:
        with self._lock:
            if status == 429:
                self._throttled[vendor] += 1
            if status >= 400:
                self._errors[vendor][str(status)] += 1

    def fault(self, vendor: str, kind: str) -> None:
        with self._lock:
            self._faults[vendor][kind] += 1

    def calls(self, vendor: str) -> int:
        with self._lock:
            return sum(self._calls[vendor].values())

    def records_written(self, vendor: str) -> int:
        with self._lock:
            return sum(self._written[vendor].values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {}
            for vendor in VENDORS:
                calls = dict(self._calls[vendor])
                written = dict(self._written[vendor])
                out[vendor] = {
                    "calls": sum(calls.values()),
                    "calls_by_endpoint": dict(sorted(calls.items())),
                    "records_written": sum(written.values()),
                    "records_written_by_object": dict(sorted(written.items())),
                    "throttled_429": self._throttled[vendor],
                    "errors_by_status": dict(self._errors[vendor]),
                    "faults_injected": dict(self._faults[vendor]),
                }
            return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Storm(_Strict):
    """Answer the next `count` calls with 429, with or without Retry-After."""

    count: int = Field(ge=0)
    retry_after: float | None = Field(default=None, ge=0)


class ServerErrors(_Strict):
    count: int = Field(ge=0)
    status: int = Field(default=503, ge=500, le=599)


class KillAfterWrites(_Strict):
    """Signal `pid` once `writes` more records are committed and acknowledged."""

    writes: int = Field(ge=1)
    pid: int = Field(ge=2)
    signal: int = 9


class RecordErrorSpec(_Strict):
    code: str = "INVALID_FIELD"
    message: str = "injected per-record error"
    status: int = 400


class FaultSpec(_Strict):
    """The fault knobs of one vendor. A count is consumed one per affected call."""

    latency_ms: float = Field(default=0, ge=0, le=60_000)
    throttle: Storm | None = None
    server_errors: ServerErrors | None = None
    resets: int = Field(default=0, ge=0, description="connections reset before any effect")
    drop_after_commit: int = Field(
        default=0, ge=0, description="writes committed, then the connection is reset"
    )
    session_expire_after: int | None = Field(
        default=None, ge=0, description="sessions expire after this many more calls"
    )
    record_errors: dict[str, RecordErrorSpec] = Field(
        default_factory=dict, description="record id or external id -> error to return"
    )
    batch_conflicts: int = Field(default=0, ge=0, description="whole batches answered 409")
    kill_after_writes: KillAfterWrites | None = None


class Faults:
    """Per-vendor fault state, consumed atomically so concurrent calls see exact counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, FaultSpec] = {v: FaultSpec() for v in VENDORS}

    def set(self, vendor: str, spec: FaultSpec) -> None:
        with self._lock:
            self._specs[vendor] = spec

    def clear(self, vendor: str | None = None) -> None:
        with self._lock:
            for v in [vendor] if vendor else list(VENDORS):
                self._specs[v] = FaultSpec()

    def get(self, vendor: str) -> FaultSpec:
        with self._lock:
            return self._specs[vendor].model_copy(deep=True)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {v: s.model_dump(exclude_defaults=True) for v, s in self._specs.items()}

    def take(
        self, vendor: str, knob: Literal["resets", "drop_after_commit", "batch_conflicts"]
    ) -> bool:
        """Consume one unit of a counted knob; True when the fault applies to this call."""
        with self._lock:
            spec = self._specs[vendor]
            left: int = getattr(spec, knob)
            if left <= 0:
                return False
            setattr(spec, knob, left - 1)
            return True

    def take_throttle(self, vendor: str) -> Storm | None:
        with self._lock:
            storm = self._specs[vendor].throttle
            if storm is None or storm.count <= 0:
                return None
            storm.count -= 1
            return Storm(count=storm.count, retry_after=storm.retry_after)

    def take_server_error(self, vendor: str) -> int | None:
        with self._lock:
            errors = self._specs[vendor].server_errors
            if errors is None or errors.count <= 0:
                return None
            errors.count -= 1
            return errors.status

    def session_call(self, vendor: str) -> bool:
        """Count one authenticated call; True once the configured expiry is reached."""
        with self._lock:
            spec = self._specs[vendor]
            if spec.session_expire_after is None:
                return False
            if spec.session_expire_after <= 0:
                spec.session_expire_after = None
                return True
            spec.session_expire_after -= 1
            return False

    def record_error(self, vendor: str, *keys: str) -> RecordErrorSpec | None:
        with self._lock:
            specs = self._specs[vendor].record_errors
            for key in keys:
                if key and key in specs:
                    return specs[key]
            return None

    def latency(self, vendor: str) -> float:
        with self._lock:
            return self._specs[vendor].latency_ms / 1000.0

    def wrote(self, vendor: str, n: int) -> KillAfterWrites | None:
        """Count committed records; returns the kill order when its threshold is crossed."""
        with self._lock:
            kill = self._specs[vendor].kill_after_writes
            if kill is None:
                return None
            kill.writes -= n
            if kill.writes > 0:
                return None
            self._specs[vendor].kill_after_writes = None
            return kill


class SandboxState:
    """Clock, statistics and faults shared by the emulators and the admin API."""

    def __init__(self) -> None:
        self.clock = SandboxClock()
        self.stats = Stats()
        self.faults = Faults()
        self.kills: list[tuple[int, int]] = []

    def record_writes(self, vendor: str, obj: str, n: int) -> None:
        """Every emulator calls this after committing records, before it answers."""
        if n <= 0:
            return
        self.stats.written(vendor, obj, n)
        kill = self.faults.wrote(vendor, n)
        if kill is not None:
            self.kills.append((kill.pid, kill.signal))


class Emulator(Protocol):
    """One vendor: an ASGI route table plus the admin hooks the sandbox needs."""

    @property
    def vendor(self) -> str:
        """One of VENDORS (read-only, so a Literal-typed class attribute satisfies it)."""
        ...

    @property
    def app(self) -> ASGIApp: ...

    def throttled(self, retry_after: float | None) -> Response:
        """The vendor's own 429 (or equivalent) response for a throttling storm."""
        ...

    def reset(self) -> None:
        """Forget every record (stats, faults and clock are reset by the sandbox)."""
        ...

    def seed(self, data: SeedData) -> dict[str, int]:
        """Load seed owners and contacts; returns records created by object."""
        ...

    def find(self, object_name: str, field: str, value: str) -> list[dict[str, Any]]:
        """Records of `object_name` whose `field` equals `value` (counts duplicates)."""
        ...

    def admin_routes(self) -> list[BaseRoute]: ...


_ID_SEGMENT = re.compile(
    r"^(?:\d+|[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18}|(?:SM|MM|AC|MG|PN)[0-9a-f]{32}(?:\.json)?)$"
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
        import os

        while self.state.kills:
            pid, sig = self.state.kills.pop()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


async def _discard(message: Message) -> None:
    """Swallows the response of a write whose connection is about to be reset."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the emulators accept, minted fresh per sandbox so nothing real is ever needed."""

    sf_client_id: str
    sf_client_secret: str
    sf_username: str
    sf_password: str
    sf_jwt_private_key_pem: bytes  # the connector signs JWT-bearer assertions with this
    sf_jwt_public_key_pem: bytes  # the emulator verifies them with this
    hubspot_token: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_messaging_service_sid: str

    @classmethod
    def generate(cls) -> Credentials:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            sf_client_id="3MVG9sandbox" + secrets.token_hex(8),
            sf_client_secret=secrets.token_hex(16),
            sf_username="integration@smsync.sandbox",
            sf_password=secrets.token_urlsafe(12),
            sf_jwt_private_key_pem=private_pem,
            sf_jwt_public_key_pem=public_pem,
            hubspot_token="pat-na1-" + secrets.token_hex(16),
            twilio_account_sid="AC" + secrets.token_hex(16),
            twilio_auth_token=secrets.token_hex(16),
            twilio_from="+15005550006",
            twilio_messaging_service_sid="MG" + secrets.token_hex(16),
        )
