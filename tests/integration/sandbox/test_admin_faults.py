"""The generic fault knobs (applied by FaultMiddleware to every vendor), the admin API and
the stats, each shown to take effect over real sockets, through the admin HTTP API."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.server import Sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(vendors=("hubspot",)) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _fresh(sb: Sandbox) -> None:
    admin(sb, "POST", "/reset")
    admin(sb, "POST", "/seed", {"contacts": 20})
    admin(sb, "POST", "/reset", {"what": ["stats"]})


def admin(sb: Sandbox, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    r = requests.request(method, f"{sb.urls['admin']}/__sandbox{path}", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def hub(sb: Sandbox) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.credentials.hubspot_token}"
    return s


def contacts_url(sb: Sandbox) -> str:
    return f"{sb.urls['hubspot']}/crm/v3/objects/contacts"


def create(s: requests.Session, sb: Sandbox, n: int) -> requests.Response:
    return s.post(contacts_url(sb), json={"properties": {"email": f"x{n}@example.com"}}, timeout=10)


def test_latency_is_added_to_every_call(sb: Sandbox) -> None:
    s = hub(sb)
    admin(sb, "POST", "/faults/hubspot", {"latency_ms": 150})
    start = time.perf_counter()
    assert s.get(contacts_url(sb), timeout=10).status_code == 200
    assert time.perf_counter() - start >= 0.15


@pytest.mark.parametrize("retry_after", [None, 3])
def test_throttle_storm_with_and_without_retry_after(sb: Sandbox, retry_after: int | None) -> None:
    s = hub(sb)
    admin(sb, "POST", "/faults/hubspot", {"throttle": {"count": 2, "retry_after": retry_after}})
    answers = [s.get(contacts_url(sb), timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answers[0].headers.get("Retry-After") == (None if retry_after is None else "3")
    stats = admin(sb, "GET", "/stats")["hubspot"]
    assert stats["throttled_429"] == 2
    assert stats["faults_injected"] == {"throttle": 2}


def test_server_errors_burst(sb: Sandbox) -> None:
    s = hub(sb)
    admin(sb, "POST", "/faults/hubspot", {"server_errors": {"count": 2, "status": 502}})
    codes = [s.get(contacts_url(sb), timeout=10).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    assert admin(sb, "GET", "/stats")["hubspot"]["errors_by_status"] == {"502": 2}


def test_connection_reset_before_any_effect(sb: Sandbox) -> None:
    s = hub(sb)
    admin(sb, "POST", "/faults/hubspot", {"resets": 1})
    with pytest.raises(requests.ConnectionError):
        create(s, sb, 1)
    assert sb.emulators["hubspot"].find("contacts", "email", "x1@example.com") == []
    assert create(s, sb, 1).status_code == 201


def test_drop_after_commit_writes_then_resets(sb: Sandbox) -> None:
    s = hub(sb)
    admin(sb, "POST", "/faults/hubspot", {"drop_after_commit": 1})
    with pytest.raises(requests.ConnectionError):
        create(s, sb, 2)
    # the server committed it: a blind re-POST would make a duplicate
    assert len(sb.emulators["hubspot"].find("contacts", "email", "x2@example.com")) == 1
    assert admin(sb, "GET", "/stats")["hubspot"]["records_written"] == 1


def test_kill_after_n_writes_signals_the_process(sb: Sandbox) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        admin(
            sb, "POST", "/faults/hubspot", {"kill_after_writes": {"writes": 2, "pid": victim.pid}}
        )
        s = hub(sb)
        assert create(s, sb, 3).status_code == 201
        assert victim.poll() is None
        assert create(s, sb, 4).status_code == 201  # acknowledged, then the kill
        assert victim.wait(timeout=10) == -9
    finally:
        victim.kill()
    assert admin(sb, "GET", "/faults")["hubspot"] == {}


def test_bad_fault_spec_is_400_and_changes_nothing(sb: Sandbox) -> None:
    r = requests.post(
        f"{sb.urls['admin']}/__sandbox/faults/hubspot",
        json={"throtle": {"count": 1}},
        timeout=10,
    )
    assert r.status_code == 400
    assert "throtle" in r.json()["error"]
    assert admin(sb, "GET", "/faults")["hubspot"] == {}
    assert (
        requests.post(f"{sb.urls['admin']}/__sandbox/faults/nope", json={}, timeout=10).status_code
        == 404
    )


def test_stats_count_calls_and_records_exactly(sb: Sandbox) -> None:
    s = hub(sb)
    for n in range(5):
        assert create(s, sb, 100 + n).status_code == 201
    for _ in range(3):
        s.get(contacts_url(sb), timeout=10)
    stats = admin(sb, "GET", "/stats")["hubspot"]
    assert stats["calls"] == 8
    assert stats["calls_by_endpoint"] == {
        "GET /crm/v3/objects/contacts": 3,
        "POST /crm/v3/objects/contacts": 5,
    }
    assert stats["records_written_by_object"] == {"contacts": 5}


def test_clock_seed_records_and_reset(sb: Sandbox) -> None:
    before = admin(sb, "GET", "/clock")["now"]
    after = admin(sb, "POST", "/clock", {"advance_s": 3600})["now"]
    assert after > before
    frozen = admin(sb, "POST", "/clock", {"set": "2026-03-08T06:59:00+00:00", "freeze": True})
    assert frozen["now"] == "2026-03-08T06:59:00+00:00"
    seeded = admin(sb, "POST", "/seed", {"contacts": 10, "seed": 3})
    assert seeded["created"]["hubspot"]["contacts"] == 10
    s = hub(sb)
    create(s, sb, 7)
    found = admin(sb, "GET", "/records/hubspot/contacts?field=email&value=x7@example.com")
    assert found["count"] == 1
    admin(sb, "POST", "/reset")
    assert (
        admin(sb, "GET", "/records/hubspot/contacts?field=email&value=x7@example.com")["count"] == 0
    )
    assert admin(sb, "GET", "/stats")["hubspot"]["calls"] == 0
