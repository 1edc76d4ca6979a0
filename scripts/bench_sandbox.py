"""How much time the emulators add per call, so benchmarks measure the connector.

Times real HTTP round trips (requests, keep-alive, loopback) against each emulator, and
against a bare Starlette route served the same way; prints one JSON object on its last
line. The bar: at most 2 ms at p50 per call with no injected latency."""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox, bind_loopback


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time(calls: int, fn: Callable[[int], requests.Response]) -> dict[str, float]:
    for i in range(min(20, calls)):  # warm the connection pool
        fn(i).raise_for_status()
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i).raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(_percentile(samples, 0.95), 3),
    }


def _bare_server() -> tuple[str, uvicorn.Server, threading.Thread]:
    async def ok(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    sock = bind_loopback()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/", ok)]), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def measure(calls: int) -> dict[str, Any]:
    out: dict[str, Any] = {"calls_per_endpoint": calls}
    base_url, bare, thread = _bare_server()
    with requests.Session() as s:
        out["bare_starlette"] = _time(calls, lambda _: s.get(base_url))
    bare.should_exit = True
    thread.join(5)

    with Sandbox(seed_contacts=50) as sb:
        c = sb.credentials
        sf = sb.salesforce_session()
        data = f"{sb.urls['salesforce']}/services/data/v62.0"
        lead_id = sf.get(f"{data}/query", params={"q": "SELECT Id FROM Lead LIMIT 1"}).json()[
            "records"
        ][0]["Id"]
        out["salesforce_get"] = _time(calls, lambda _: sf.get(f"{data}/sobjects/Lead/{lead_id}"))
        out["salesforce_patch"] = _time(
            calls,
            lambda i: sf.patch(
                f"{data}/sobjects/Lead/{lead_id}", json={"SMS_Active_Motion__c": f"m{i}"}
            ),
        )

        hs = requests.Session()
        hs.headers["Authorization"] = f"Bearer {c.hubspot_token}"
        hub = f"{sb.urls['hubspot']}/crm/v3/objects/contacts"
        contact_id = hs.get(hub, params={"limit": 1}).json()["results"][0]["id"]
        hubspot = sb.emulators["hubspot"]
        assert isinstance(hubspot, HubSpotEmulator)
        hubspot.configure_limits(ten_secondly=10**7, daily=10**8)  # latency, not limits
        hs_calls = calls
        out["hubspot_get"] = _time(hs_calls, lambda _: hs.get(f"{hub}/{contact_id}"))
        out["hubspot_patch"] = _time(
            hs_calls,
            lambda i: hs.patch(
                f"{hub}/{contact_id}", json={"properties": {"smsync_active_motion": f"m{i}"}}
            ),
        )

        tw = requests.Session()
        tw.auth = (c.twilio_account_sid, c.twilio_auth_token)
        msgs = f"{sb.urls['twilio']}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages"
        to = next(x.phone_e164 for x in generate(50).contacts if x.phone_e164 and x.mobile)
        out["twilio_create"] = _time(
            calls,
            lambda i: tw.post(
                f"{msgs}.json", data={"To": to, "From": c.twilio_from, "Body": f"hi {i}"}
            ),
        )
        sid = tw.get(f"{msgs}.json", params={"PageSize": 1}).json()["messages"][0]["sid"]
        out["twilio_fetch"] = _time(calls, lambda _: tw.get(f"{msgs}/{sid}.json"))

    vendor = [v for k, v in out.items() if k.startswith(("salesforce", "hubspot", "twilio"))]
    worst = max(v["p50_ms"] for v in vendor)
    out["worst_p50_ms"] = worst
    out["worst_added_p50_ms"] = round(worst - out["bare_starlette"]["p50_ms"], 3)
    # what the emulators add over the same HTTP stack serving a bare route: the bar is 2 ms
    out["added_within_2ms_p50"] = out["worst_added_p50_ms"] <= 2.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args()
    result = measure(args.calls)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
