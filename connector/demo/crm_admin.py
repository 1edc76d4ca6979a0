"""The people on the CRM side of the demo: admins and reps editing records through the
vendor's own REST API, as its UI would. Their calls and writes are counted apart, so the
demo's `crm_api_calls` and `crm_records_written` are the connector's alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from connector.sandbox.server import Sandbox

SF_API = "v62.0"
RATE_LIMIT_TRIES = 20


@dataclass
class CrmAdmin:
    vendor: str
    sandbox: Sandbox
    calls: int = 0  # sandbox-counted API calls made by the simulated people
    written: int = 0  # sandbox-counted records they wrote
    _sf: requests.Session | None = field(default=None, repr=False)
    _hs: requests.Session | None = field(default=None, repr=False)

    def edit(self, object_name: str, record_id: str, values: dict[str, Any]) -> None:
        """One record edit; raises on a refusal (the demo must not hide a broken step)."""
        stats = self.sandbox.state.stats
        calls, written = stats.calls(self.vendor), stats.records_written(self.vendor)
        try:
            self._edit(object_name, record_id, values)
        finally:
            self.calls += stats.calls(self.vendor) - calls
            self.written += stats.records_written(self.vendor) - written

    def create(
        self, object_name: str, values: dict[str, Any], *, contact: str | None = None
    ) -> str:
        """Create one record as a rep would (HubSpot: associated with `contact`); its id."""
        stats = self.sandbox.state.stats
        calls, written = stats.calls(self.vendor), stats.records_written(self.vendor)
        try:
            return self._create(object_name, values, contact)
        finally:
            self.calls += stats.calls(self.vendor) - calls
            self.written += stats.records_written(self.vendor) - written

    def _create(self, object_name: str, values: dict[str, Any], contact: str | None) -> str:
        if self.vendor == "salesforce":
            url = f"{self.sandbox.urls['salesforce']}/services/data/{SF_API}/sobjects/{object_name}"
            r = self._salesforce().post(url, json=values, timeout=30)
            if r.status_code == 401:
                self._sf = None
                r = self._salesforce().post(url, json=values, timeout=30)
        else:
            url = f"{self.sandbox.urls['hubspot']}/crm/v3/objects/{object_name}"
            body: dict[str, Any] = {"properties": values}
            if contact is not None:  # 204: task -> contact, HUBSPOT_DEFINED
                kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}
                body["associations"] = [{"to": {"id": contact}, "types": [kind]}]
            r = self._hubspot().post(url, json=body, timeout=30)
            for _ in range(RATE_LIMIT_TRIES):
                if r.status_code != 429:
                    break
                self.sandbox.state.clock.advance(float(r.headers.get("Retry-After") or 2))
                r = self._hubspot().post(url, json=body, timeout=30)
        if r.status_code not in (200, 201):
            raise RuntimeError(
                f"demo: the {self.vendor} sandbox refused a new {object_name}:"
                f" {r.status_code} {r.text[:300]}"
            )
        return str(r.json()["id"])

    def _edit(self, object_name: str, record_id: str, values: dict[str, Any]) -> None:
        if self.vendor == "salesforce":
            base = f"{self.sandbox.urls['salesforce']}/services/data/{SF_API}"
            url = f"{base}/sobjects/{object_name}/{record_id}"
            r = self._salesforce().patch(url, json=values, timeout=30)
            if r.status_code == 401:  # the admin's session expired as the clock moved
                self._sf = None
                r = self._salesforce().patch(url, json=values, timeout=30)
        else:
            url = f"{self.sandbox.urls['hubspot']}/crm/v3/objects/{object_name}/{record_id}"
            r = self._hubspot().patch(url, json={"properties": values}, timeout=30)
            for _ in range(RATE_LIMIT_TRIES):
                if r.status_code != 429:
                    break
                # HubSpot's 10-second window: the person waits (on the demo clock) and retries
                self.sandbox.state.clock.advance(float(r.headers.get("Retry-After") or 2))
                r = self._hubspot().patch(url, json={"properties": values}, timeout=30)
        if r.status_code not in (200, 204):
            raise RuntimeError(
                f"demo: the {self.vendor} sandbox refused an edit of {object_name}/{record_id}:"
                f" {r.status_code} {r.text[:300]}"
            )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One REST call on the CRM by a simulated person (counted like `edit`); `path`
        below the vendor's base URL. Returns the JSON answer ({} when empty); raises on a
        refusal."""
        stats = self.sandbox.state.stats
        calls, written = stats.calls(self.vendor), stats.records_written(self.vendor)
        try:
            r = self._call(method, path, body)
        finally:
            self.calls += stats.calls(self.vendor) - calls
            self.written += stats.records_written(self.vendor) - written
        if r.status_code not in (200, 201, 204):
            raise RuntimeError(
                f"demo: the {self.vendor} sandbox refused {method} {path}:"
                f" {r.status_code} {r.text[:300]}"
            )
        return r.json() if r.content else {}

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        url = f"{self.sandbox.urls[self.vendor]}{path}"
        if self.vendor == "salesforce":
            r = self._salesforce().request(method, url, json=body, timeout=30)
            if r.status_code == 401:  # the session expired as the clock moved
                self._sf = None
                r = self._salesforce().request(method, url, json=body, timeout=30)
            return r
        r = self._hubspot().request(method, url, json=body, timeout=30)
        for _ in range(RATE_LIMIT_TRIES):
            if r.status_code != 429:
                break
            self.sandbox.state.clock.advance(float(r.headers.get("Retry-After") or 2))
            r = self._hubspot().request(method, url, json=body, timeout=30)
        return r

    def _salesforce(self) -> requests.Session:
        if self._sf is None:
            self._sf = self.sandbox.salesforce_session()
        return self._sf

    def _hubspot(self) -> requests.Session:
        if self._hs is None:
            session = requests.Session()
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {self.sandbox.credentials.hubspot_token}"
            self._hs = session
        return self._hs

    def close(self) -> None:
        for session in (self._sf, self._hs):
            if session is not None:
                session.close()
