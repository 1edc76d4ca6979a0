"""Fixtures for the Twilio emulator tests: the sandbox, a real webhook receiver, and
validators built from Twilio's own OpenAPI document (read in place, never copied)."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
import requests
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from connector.sandbox.server import Sandbox

SPECS = Path(__file__).resolve().parents[3] / ".." / "shared" / "specs"
TWILIO_SPEC = SPECS / "twilio" / "twilio_api_v2010.json"
_SPEC_URI = "urn:twilio:api-v2010"
MESSAGE_SCHEMA = "/components/schemas/api.v2010.account.message"
LIST_SCHEMA = (
    "/paths/~12010-04-01~1Accounts~1{AccountSid}~1Messages.json"
    "/get/responses/200/content/application~1json/schema"
)
TO = "+14155552671"  # valid San Francisco mobile per phonenumbers
OTHER = "+12127365000"


@functools.cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(TWILIO_SPEC.read_text())
    return spec


def _checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(oas30_format_checker.checkers)

    def rfc2822_gmt(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return parsedate_to_datetime(value).utcoffset() is not None and value.endswith(" +0000")

    checker.checkers["date-time-rfc-2822"] = (rfc2822_gmt, (TypeError, ValueError))
    return checker


@functools.cache
def spec_validator(pointer: str) -> OAS30Validator:
    """A validator for the schema at `pointer` in the spec, with every $ref resolved."""
    resource = Resource.from_contents(_spec(), default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    ref = {"$ref": f"{_SPEC_URI}#{quote(pointer, safe='/~')}"}
    return OAS30Validator(ref, registry=registry, format_checker=_checker())


def assert_matches_spec(pointer: str, document: object) -> None:
    errors = [e.message for e in spec_validator(pointer).iter_errors(document)]
    assert errors == [], errors


@dataclass(frozen=True, slots=True)
class Received:
    url: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


class Receiver:
    """A real HTTP server that records every webhook and answers as told."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            url=receiver.url + self.path,
                            path=self.path,
                            headers=dict(self.headers.items()),
                            params=dict(parse_qsl(body, keep_blank_values=True)),
                        )
                    )
                    status = receiver._answers.pop(0) if receiver._answers else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"<Response")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the test reads `requests` instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then 200 again)."""
        with self._lock:
            self._answers = list(statuses)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._answers.clear()

    def of(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]


class Twilio:
    """Drives the emulator as a client would: plain `requests` over real HTTP."""

    def __init__(self, sb: Sandbox, receiver: Receiver) -> None:
        self.sb = sb
        self.receiver = receiver
        self.creds = sb.credentials
        self.http = requests.Session()
        self.http.auth = (self.creds.twilio_account_sid, self.creds.twilio_auth_token)
        self.messages_url = (
            f"{sb.urls['twilio']}/2010-04-01/Accounts/{self.creds.twilio_account_sid}/Messages.json"
        )

    def send(self, **form: str) -> requests.Response:
        form.setdefault("From", self.creds.twilio_from)
        return self.http.post(self.messages_url, data=form, timeout=10)

    def list(self, **params: str) -> requests.Response:
        return self.http.get(self.messages_url, params=params, timeout=10)

    def get(self, uri: str) -> requests.Response:
        return self.http.get(self.sb.urls["twilio"] + uri, timeout=10)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(
            method, f"{self.sb.urls['admin']}/__sandbox{path}", json=body, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def inbound(self, sender: str, body: str, to: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"from": sender, "body": body}
        if to is not None:
            payload["to"] = to
        result: dict[str, Any] = self.admin("POST", "/twilio/inbound", payload)
        return result

    def tick(self, advance_s: float = 0.0) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("POST", "/twilio/tick", {"advance_s": advance_s})
        return result

    def freeze_clock(self, iso: str = "2026-11-22T19:06:26+00:00") -> None:
        self.admin("POST", "/clock", {"set": iso, "freeze": True})


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[Sandbox]:
    with Sandbox(vendors=("twilio",), webhook_base_url=receiver.url) as sb:
        yield sb


@pytest.fixture
def tw(sandbox: Sandbox, receiver: Receiver) -> Twilio:
    client = Twilio(sandbox, receiver)
    client.admin("POST", "/reset")
    client.admin("POST", "/twilio/webhook", {"base_url": receiver.url})
    receiver.clear()
    return client
