"""Runs the three emulators and the admin API on real loopback sockets.

One background thread owns one asyncio loop serving every uvicorn server, so a test
session, the demo and `smsync sandbox serve` all get the same thing: real HTTP (and TLS
for Salesforce, since simple-salesforce always builds https URLs)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import trustme
import uvicorn

from connector.sandbox.admin import build_admin
from connector.sandbox.asgi import ASGIApp
from connector.sandbox.core import Credentials, Emulator, SandboxState
from connector.sandbox.middleware import FaultMiddleware
from connector.sandbox.seed import generate

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int = 0) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only then,
    # and without it every small response waits ~40 ms on delayed ACKs
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(1024)
    sock.setblocking(False)  # noqa: FBT003 - the socket API's own positional flag
    return sock


class Sandbox:
    """The emulators behind real sockets. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        port: int = 0,
        webhook_base_url: str = "http://127.0.0.1:8080",
        workdir: Path | None = None,
        seed_contacts: int = 0,
        seed: int = 7,
        seed_deal_share: float = 0.0,
        vendors: tuple[str, ...] = ("salesforce", "hubspot", "twilio"),
    ) -> None:
        self.vendors = vendors
        self.state = SandboxState()
        self.credentials = Credentials.generate()
        self.webhook_base_url = webhook_base_url.rstrip("/")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="smsync-sandbox-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._seed_contacts = seed_contacts
        self._seed = seed
        self._seed_deal_share = seed_deal_share
        # consecutive ports from `port` when given (sf, hubspot, twilio, admin), else any free
        self._sockets = {
            name: bind_loopback(port + i if port else 0)
            for i, name in enumerate(("salesforce", "hubspot", "twilio", "admin"))
        }
        self.ports = {name: s.getsockname()[1] for name, s in self._sockets.items()}
        self.urls = {
            "salesforce": f"https://{LOOPBACK}:{self.ports['salesforce']}",
            "hubspot": f"http://{LOOPBACK}:{self.ports['hubspot']}",
            "twilio": f"http://{LOOPBACK}:{self.ports['twilio']}",
            "admin": f"http://{LOOPBACK}:{self.ports['admin']}",
        }
        self.ca_file, self._cert_file, self._key_file = self._make_tls()
        self.jwt_key_file = self.workdir / "sf_jwt_key.pem"
        self.jwt_key_file.write_bytes(self.credentials.sf_jwt_private_key_pem)
        self.jwt_key_file.chmod(0o600)
        self.emulators: dict[str, Emulator] = self._build_emulators()
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()

    def _make_tls(self) -> tuple[Path, Path, Path]:
        ca = trustme.CA(organization_name="smsync sandbox CA")
        cert = ca.issue_cert(LOOPBACK, "localhost")
        ca_file = self.workdir / "sandbox-ca.pem"
        cert_file = self.workdir / "salesforce-cert.pem"
        key_file = self.workdir / "salesforce-key.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        cert.private_key_pem.write_to_path(str(key_file))
        with cert_file.open("wb") as out:
            for blob in cert.cert_chain_pems:
                out.write(blob.bytes())
        return ca_file, cert_file, key_file

    def _build_emulators(self) -> dict[str, Emulator]:
        # imported per vendor so that one emulator can be run (and built) without the others
        if "salesforce" in self.vendors:
            from connector.sandbox.salesforce.emulator import SalesforceEmulator
        if "hubspot" in self.vendors:
            from connector.sandbox.hubspot.emulator import HubSpotEmulator
        if "twilio" in self.vendors:
            from connector.sandbox.twilio.emulator import TwilioEmulator

        creds = self.credentials
        built: dict[str, Emulator] = {}
        if "salesforce" in self.vendors:
            built["salesforce"] = SalesforceEmulator(
                self.state, base_url=self.urls["salesforce"], credentials=creds
            )
        if "hubspot" in self.vendors:
            built["hubspot"] = HubSpotEmulator(
                self.state, base_url=self.urls["hubspot"], credentials=creds
            )
        if "twilio" in self.vendors:
            built["twilio"] = TwilioEmulator(
                self.state,
                base_url=self.urls["twilio"],
                credentials=creds,
                webhook_base_url=self.webhook_base_url,
            )
        return built

    def env(self) -> dict[str, str]:
        """Exported, these point `smsync run` at this sandbox (Salesforce by default)."""
        c = self.credentials
        return {
            "SMSYNC_CRM": "salesforce",
            "SMSYNC_CA_FILE": str(self.ca_file),
            "SMSYNC_PUBLIC_BASE_URL": self.webhook_base_url,
            "SF_LOGIN_URL": self.urls["salesforce"],
            "SF_CLIENT_ID": c.sf_client_id,
            "SF_CLIENT_SECRET": c.sf_client_secret,
            "SF_USERNAME": c.sf_username,
            "SF_PASSWORD": c.sf_password,
            "SF_JWT_KEY_FILE": str(self.jwt_key_file),
            "HUBSPOT_ACCESS_TOKEN": c.hubspot_token,
            "HUBSPOT_BASE_URL": self.urls["hubspot"],
            "TWILIO_ACCOUNT_SID": c.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": c.twilio_auth_token,
            "TWILIO_FROM": c.twilio_from,
            "TWILIO_BASE_URL": self.urls["twilio"],
        }

    def salesforce_session(self) -> requests.Session:
        """A `requests.Session` trusting the sandbox CA, holding a password-flow token, for
        tests and benchmarks that reach behind the connector."""
        session = requests.Session()
        session.verify = str(self.ca_file)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify (psf/requests#3829)
        c = self.credentials
        reply = session.post(
            f"{self.urls['salesforce']}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": c.sf_client_id,
                "client_secret": c.sf_client_secret,
                "username": c.sf_username,
                "password": c.sf_password,
            },
            timeout=30,
        )
        reply.raise_for_status()
        session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        return session

    def describe(self) -> dict[str, Any]:
        """The one JSON line `smsync sandbox serve` prints."""
        return {**self.urls, "ca_file": str(self.ca_file), "env": self.env()}

    def seed(
        self, contacts: int, *, seed: int = 7, deal_share: float = 0.0
    ) -> dict[str, dict[str, int]]:
        """Load `contacts` seed people into every emulator; `deal_share` of the Contacts also
        get a deal (Opportunity with contact roles and stage history; a HubSpot deal with
        its contact associations and dealstage history). Off by default."""
        data = generate(contacts, seed=seed, deal_share=deal_share)
        return {name: emu.seed(data) for name, emu in self.emulators.items()}

    def _apps(self) -> dict[str, ASGIApp]:
        apps: dict[str, ASGIApp] = {
            name: FaultMiddleware(emu, self.state) for name, emu in self.emulators.items()
        }
        apps["admin"] = build_admin(self.state, self.emulators)
        return apps

    def start(self) -> Sandbox:
        if self._seed_contacts:
            self.seed(self._seed_contacts, seed=self._seed, deal_share=self._seed_deal_share)
        apps = self._apps()
        self._apps_order = list(apps)
        for name in list(self._sockets):
            if name not in apps:  # a vendor not run: free its port
                self._sockets.pop(name).close()
        for name, app in apps.items():
            tls: dict[str, Any] = {}
            if name == "salesforce":
                tls = {"ssl_certfile": str(self._cert_file), "ssl_keyfile": str(self._key_file)}
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
                **tls,
            )
            self._servers.append(uvicorn.Server(config))
        self._thread = threading.Thread(target=self._run, name="smsync-sandbox", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=20):
            raise RuntimeError("sandbox did not start within 20 s")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            tasks = [
                asyncio.create_task(server.serve(sockets=[self._sockets[name]]))
                for server, name in zip(self._servers, self._apps_order, strict=True)
            ]
            while not all(s.started for s in self._servers):
                if any(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.005)
            self._started.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def call_soon(self, coro: Any) -> None:
        """Schedule a coroutine on the sandbox loop (webhook deliveries, status ticks)."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
            # idle TLS keep-alive connections never finish closing on their own (the peer
            # does not answer close_notify), so do not wait for them
            server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self._sockets.values():
            with contextlib.suppress(OSError):
                sock.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
