"""What every emulator shares: the sandbox state (clock, stats, faults), the Emulator
protocol each vendor implements, and the credentials the emulators accept.

Vendor apps stay plain route tables with state; `middleware.FaultMiddleware` owns latency,
throttling storms, 5xx, connection resets and dropped responses, so every vendor gets them
alike."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import Response
from starlette.routing import BaseRoute

from connector.sandbox.asgi import ASGIApp
from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import Faults
from connector.sandbox.seed import SeedData
from connector.sandbox.stats import Stats


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


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the emulators accept, minted fresh per sandbox so nothing real is ever needed."""

    sf_client_id: str
    sf_client_secret: str
    sf_username: str
    sf_password: str
    sf_jwt_private_key_pem: bytes  # the connector signs JWT-bearer assertions with this
    sf_jwt_public_key_pem: bytes  # the emulator verifies them with this
    hubspot_token: str  # the private-app token
    hubspot_oauth_client_id: str  # an OAuth app: /oauth/v1/token exchanges its refresh token
    hubspot_oauth_client_secret: str
    hubspot_oauth_refresh_token: str  # the first one; each exchange rotates it
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
            hubspot_oauth_client_id=str(uuid.uuid4()),
            hubspot_oauth_client_secret=str(uuid.uuid4()),
            hubspot_oauth_refresh_token="na1-" + str(uuid.uuid4()),
            twilio_account_sid="AC" + secrets.token_hex(16),
            twilio_auth_token=secrets.token_hex(16),
            twilio_from="+15005550006",
            twilio_messaging_service_sid="MG" + secrets.token_hex(16),
        )
