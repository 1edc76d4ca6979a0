"""Writeback efficiency: our adapter's batched upserts against one SDK call per record.

Both run in this process against the same sandbox, on the same workload of mixed writes
(half SMS activities, a quarter follow-up tasks, a quarter field updates). API calls are
counted by the sandbox. The same writes are then replayed, and the sandbox's listing by
external id must still hold one record per write.

    python scripts/bench_writeback.py --crm salesforce --records 10000 --json

The last line is one JSON object: {crm, records, api_calls, records_per_call, wall_s,
naive_api_calls, naive_wall_s, ...}."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hubspot import HubSpot
from simple_salesforce.api import Salesforce

from connector.config import MappingConfig, Settings, load_mapping, load_settings
from connector.crm import build_crm
from connector.domain.model import ContactState, CrmWrite
from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.server import Sandbox
from connector.store import SqlStore
from connector.store.id_map import StoreIdMap
from connector.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SF_VERSION = "62.0"


def workload(people: list[ContactState], n: int) -> list[CrmWrite]:
    """Deterministic ids, so a replay targets the same records."""
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    writes: list[CrmWrite] = []
    for i in range(n):
        target = people[i % len(people)].ref
        sid = f"SM{i:032x}"
        slot = i % 4
        if slot in (0, 1):
            writes.append(
                CrmWrite(
                    "activity",
                    f"sms:{sid}",
                    target,
                    {
                        "message_sid": sid,
                        "direction": "inbound" if slot == 0 else "outbound",
                        "body": f"Message {i}: can we talk Thursday?",
                        "at": at + timedelta(seconds=i),
                        "status": "received" if slot == 0 else "delivered",
                        "phone": "+14155550123",
                    },
                )
            )
        elif slot == 2:
            writes.append(
                CrmWrite(
                    "task",
                    f"task:{sid}:follow_up",
                    target,
                    {
                        "kind": "follow_up",
                        "subject": f"SMS reply {i} needs a call",
                        "body": "They asked to talk on Thursday.",
                        "priority": "high",
                        "status": "open",
                    },
                    due=at + timedelta(hours=2),
                )
            )
        else:
            writes.append(
                CrmWrite(
                    "field_update",
                    f"field:{target}:{i}",
                    target,
                    {"journey_state": "engaged", "disposition": "interested"},
                )
            )
    return writes


def settings_for(sb: Sandbox, crm: str) -> Settings:
    import os

    saved = dict(os.environ)
    try:
        os.environ.update(sb.env())
        os.environ["SMSYNC_CRM"] = crm
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _calls(sb: Sandbox, crm: str) -> int:
    return sb.state.stats.calls(crm)


def count_records(sb: Sandbox, mapping: MappingConfig, writes: list[CrmWrite]) -> int:
    """Records the CRM holds for the activity and task writes, found by external id."""
    emulator = sb.emulators[mapping.crm]
    total = 0
    for w in writes:
        if w.kind == "activity":
            total += len(
                emulator.find(
                    mapping.activity.object, mapping.activity.external_id_field, w.external_id
                )
            )
        elif w.kind == "task":
            total += len(
                emulator.find(mapping.tasks.object, mapping.tasks.external_id_field, w.external_id)
            )
    return total


# --- the naive baseline: one SDK call per record ----------------------------------------


def naive_salesforce(sb: Sandbox, mapping: MappingConfig) -> Callable[[CrmWrite], None]:
    session = sb.salesforce_session()
    token = str(session.headers["Authorization"]).removeprefix("Bearer ")
    sf = Salesforce(
        instance_url=sb.urls["salesforce"], session_id=token, session=session, version=SF_VERSION
    )
    ext_field = mapping.activity.external_id_field

    def write(w: CrmWrite) -> None:
        f = w.fields
        if w.kind == "field_update":
            fm = mapping.field_map(w.target.object_type)
            sf.restful(
                f"sobjects/{w.target.object_type}/{w.target.id}",
                method="PATCH",
                json={
                    fm.journey_state: mapping.to_crm("journey_state", str(f["journey_state"])),
                    fm.disposition: mapping.to_crm("disposition", str(f["disposition"])),
                },
            )
            return
        if w.kind == "activity":
            data = {
                "Subject": f"SMS {f['direction']}",
                "Description": f["body"],
                "Status": "Completed",
                "WhoId": w.target.id,
            }
        else:
            data = {
                "Subject": f["subject"],
                "Description": f["body"],
                "Status": "Not Started",
                "Priority": "High",
                "WhoId": w.target.id,
                "ActivityDate": (w.due or datetime.now(UTC)).date().isoformat(),
            }
        sf.restful(f"sobjects/Task/{ext_field}/{w.external_id}", method="PATCH", json=data)

    return write


def naive_hubspot(sb: Sandbox, mapping: MappingConfig) -> Callable[[CrmWrite], None]:
    client = HubSpot(access_token=sb.credentials.hubspot_token, host=sb.urls["hubspot"])
    ext = mapping.activity.external_id_field

    def write(w: CrmWrite) -> None:
        f = w.fields
        if w.kind == "field_update":
            fm = mapping.field_map("contacts")
            client.crm.contacts.basic_api.update(
                w.target.id,
                {
                    "properties": {
                        fm.journey_state: mapping.to_crm("journey_state", str(f["journey_state"])),
                        fm.disposition: mapping.to_crm("disposition", str(f["disposition"])),
                    }
                },
            )
            return
        if w.kind == "activity":
            obj, type_id = "communications", 81
            props = {
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "CRM",
                "hs_communication_body": str(f["body"]),
                "hs_timestamp": f["at"].isoformat()
                if isinstance(f["at"], datetime)
                else str(f["at"]),
                ext: w.external_id,
            }
        else:
            obj, type_id = "tasks", 204
            props = {
                "hs_task_subject": str(f["subject"]),
                "hs_task_body": str(f["body"]),
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
                "hs_timestamp": (w.due or datetime.now(UTC)).isoformat(),
                ext: w.external_id,
            }
        assoc = [
            {
                "to": {"id": w.target.id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
        ]
        client.crm.objects.basic_api.create(obj, {"properties": props, "associations": assoc})

    return write


NAIVE = {"salesforce": naive_salesforce, "hubspot": naive_hubspot}


def _prepare(sb: Sandbox, mapping: MappingConfig, people: int) -> None:
    for emulator in sb.emulators.values():
        emulator.reset()
    sb.state.faults.clear()
    sb.seed(people)
    hubspot = sb.emulators.get("hubspot")
    if isinstance(hubspot, HubSpotEmulator):
        hubspot.configure_limits(ten_secondly=10**7, daily=10**8)  # batching, not limits
        # local_map mode is for accounts that refuse unique properties on engagements: make
        # the sandbox refuse them too, so only the adapter's id map prevents duplicates
        hubspot.refuse_engagement_unique(mapping.idempotency_mode == "local_map")


def run(crm: str, records: int, people: int, idempotency: str | None = None) -> dict[str, Any]:
    mapping = load_mapping(ROOT / "mappings" / f"{crm}.yaml")
    if idempotency is not None:  # HubSpot: unique_property (upsert) or local_map (id map)
        mapping = mapping.model_copy(update={"idempotency": idempotency})
    with Sandbox(vendors=(crm,)) as sb, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(sb, crm)
        _prepare(sb, mapping, people)
        # local_map remembers HubSpot ids in the store, as `smsync run` does
        db_url = f"sqlite:///{tmp}/ids.db"
        upgrade(db_url)
        store = SqlStore.from_url(db_url)
        adapter = build_crm(settings, mapping, id_map=StoreIdMap(store))
        targets = [s for batch in adapter.pull(None) for s in batch.contacts]
        writes = workload(targets, records)

        before = _calls(sb, crm)
        start = time.perf_counter()
        results = adapter.write(writes)
        wall = time.perf_counter() - start
        api_calls = _calls(sb, crm) - before
        failed = sum(not r.ok for r in results)

        before = _calls(sb, crm)
        replay = adapter.write(writes)
        replay_calls = _calls(sb, crm) - before
        held = count_records(sb, mapping, writes)
        expected = sum(w.kind != "field_update" for w in writes)

        _prepare(sb, mapping, people)
        naive = NAIVE[crm](sb, mapping)
        fresh = build_crm(settings, mapping, id_map=StoreIdMap(store))
        targets = [s for batch in fresh.pull(None) for s in batch.contacts]
        writes = workload(targets, records)
        before = _calls(sb, crm)
        start = time.perf_counter()
        for w in writes:
            naive(w)
        naive_wall = time.perf_counter() - start
        naive_calls = _calls(sb, crm) - before
        store.close()

    return {
        "crm": crm,
        "idempotency": mapping.idempotency_mode,
        "records": records,
        "api_calls": api_calls,
        "records_per_call": round(records / max(api_calls, 1), 1),
        "wall_s": round(wall, 3),
        "failed": failed,
        "replay_api_calls": replay_calls,
        "replay_failed": sum(not r.ok for r in replay),
        "crm_records": held,
        "duplicate_crm_records": held - expected,
        "naive_api_calls": naive_calls,
        "naive_wall_s": round(naive_wall, 3),
        "calls_ratio": round(naive_calls / max(api_calls, 1), 1),
        "speedup": round(naive_wall / wall, 1) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=500, help="seeded CRM records to target")
    parser.add_argument(
        "--idempotency",
        choices=("unique_property", "local_map"),
        help="HubSpot only: override the mapping's idempotency mode",
    )
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args()
    if args.idempotency and args.crm != "hubspot":
        parser.error("--idempotency applies to --crm hubspot only")
    result = run(args.crm, args.records, args.people, args.idempotency)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
