"""How the contract suite builds each adapter and reaches behind it (through the vendor's
own API, never the adapter) to change or count CRM records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from connector.config import Settings, load_mapping
from connector.crm import build_crm
from connector.ports import CrmPort
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import SeedData, SeedOwner
from connector.sandbox.server import Sandbox
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrmCase:
    vendor: str
    sandbox: Sandbox
    seed: SeedData
    crm: CrmPort
    settings: Settings
    contact_objects: tuple[str, ...]  # where seeded people live in this CRM
    activity_object: str
    task_object: str
    external_id_field: str
    _sf_session: requests.Session | None = None

    def records_with_external_id(self, object_name: str, external_id: str) -> int:
        return len(
            self.sandbox.emulators[self.vendor].find(
                object_name, self.external_id_field, external_id
            )
        )

    def task_completion(self, external_id: str) -> Any:
        """The completion time the CRM stores on a task (None when it holds none)."""
        (row,) = self.sandbox.emulators[self.vendor].find(
            self.task_object, self.external_id_field, external_id
        )
        if self.vendor == "salesforce":
            return row.get("CompletedDateTime")
        return row["properties"].get("hs_task_completion_date")

    def expected_people(self) -> int:
        return len(self.seed.contacts)

    def change_field(self, object_name: str, record_id: str, crm_field: str, value: Any) -> None:
        """An admin edits a record in the CRM's own UI (here: its REST API)."""
        if self.vendor == "salesforce":
            base = self.sandbox.urls["salesforce"]
            r = self._sf().patch(
                f"{base}/services/data/v62.0/sobjects/{object_name}/{record_id}",
                json={crm_field: value},
            )
        else:
            r = requests.patch(
                f"{self.sandbox.urls['hubspot']}/crm/v3/objects/{object_name}/{record_id}",
                json={"properties": {crm_field: value}},
                headers={"Authorization": f"Bearer {self.sandbox.credentials.hubspot_token}"},
                timeout=10,
            )
        assert r.status_code in (200, 204), r.text

    def seeded_owners(self) -> dict[str, SeedOwner]:
        """The seeded owners by the id the CRM gave each, read from the CRM itself."""
        out: dict[str, SeedOwner] = {}
        for owner in self.seed.owners:
            if self.vendor == "salesforce":
                emulator = self.sandbox.emulators["salesforce"]
                (user,) = emulator.find("User", "Username", owner.email)
                out[str(user["Id"])] = owner
                continue
            r = requests.get(
                f"{self.sandbox.urls['hubspot']}/crm/v3/owners",
                params={"email": owner.email},
                headers={"Authorization": f"Bearer {self.sandbox.credentials.hubspot_token}"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            (row,) = r.json()["results"]
            out[str(row["id"])] = owner
        return out

    def revoke(self, revoked: bool = True) -> None:
        """An admin revokes (or restores) the integration's credentials in the CRM."""
        emulator = self.sandbox.emulators[self.vendor]
        if isinstance(emulator, SalesforceEmulator):
            emulator.auth.revoke(revoked)
        elif isinstance(emulator, HubSpotEmulator):
            emulator.revoke_token(revoked)

    def made_up_owner_ids(self, n: int) -> list[str]:
        """Well-formed owner ids that no user in the CRM holds."""
        if self.vendor == "salesforce":
            # the emulator's users are 0058c... and the shipped roster's 0050000000000nnAAA
            return [f"005{i:012d}ZZZ" for i in range(n)]
        return [str(90_000_000 + i) for i in range(n)]  # its owners are 70000001...

    def owner_lookup_calls(self) -> int:
        """API calls so far that read users: SOQL query pages, or owners API pages."""
        marker = "/query" if self.vendor == "salesforce" else "/crm/v3/owners"
        calls = self.sandbox.state.stats.snapshot()[self.vendor]["calls_by_endpoint"]
        return sum(n for endpoint, n in calls.items() if marker in endpoint)

    def _sf(self) -> requests.Session:
        if self._sf_session is None:
            self._sf_session = self.sandbox.salesforce_session()
        return self._sf_session


def build_case(vendor: str, sandbox: Sandbox, seed: SeedData) -> CrmCase:
    settings = sandbox_settings(sandbox, SMSYNC_CRM=vendor)
    mapping = load_mapping(ROOT / "mappings" / f"{vendor}.yaml")
    crm = build_crm(settings, mapping)
    return CrmCase(
        vendor=vendor,
        sandbox=sandbox,
        seed=seed,
        crm=crm,
        settings=settings,
        contact_objects=mapping.object_names,
        activity_object=mapping.activity.object,
        task_object=mapping.tasks.object,
        external_id_field=mapping.activity.external_id_field,
    )
