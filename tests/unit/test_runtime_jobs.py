"""The job registry and scheduler: errors counted not fatal, wakes never lost, shutdown waits
for the batch in flight, and only the leader runs a job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from connector.errors import AuthError
from connector.runtime.jobs import Job, Jobs

HOUR = 3600.0


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def started() -> Iterator[list[Jobs]]:
    made: list[Jobs] = []
    yield made
    for jobs in made:
        jobs.shutdown(5)


class NotLeader:
    def leads(self, job: str) -> bool:
        return job != "blocked"

    def close(self) -> None:
        pass


def test_a_failing_job_is_logged_scrubbed_and_counted_and_runs_again(
    started: list[Jobs],
) -> None:
    calls: list[int] = []

    def boom(_: threading.Event) -> None:
        calls.append(1)
        raise RuntimeError("token=sk_live_abcdefghijklmnop from +14155550123 failed")

    jobs = Jobs([Job("boomer", HOUR, boom)])
    started.append(jobs)
    before = sample("smsync_errors_total", where="job:boomer", error="RuntimeError")
    with capture_logs() as logs:
        jobs.start()
        wait_for(lambda: len(calls) == 1)
        jobs.wake("boomer")
        wait_for(lambda: len(calls) == 2)
    after = sample("smsync_errors_total", where="job:boomer", error="RuntimeError")
    assert after - before == 2
    failed = [e for e in logs if e["event"] == "job.failed"]
    assert failed
    assert failed[0]["error"] == "RuntimeError"
    assert "+14155550123" not in str(failed[0]["detail"])
    assert failed[0].get("exc_info") is True  # a bug keeps its stack


def test_a_classified_failure_is_logged_without_a_stack(started: list[Jobs]) -> None:
    """A revoked CRM login fails every pass until someone fixes it: the message says what
    to do, and a stack trace in every minute's log would only bury it."""
    calls: list[int] = []

    def refused(_: threading.Event) -> None:
        calls.append(1)
        raise AuthError("Salesforce refused the jwt login: check SF_CLIENT_ID")

    jobs = Jobs([Job("refused", HOUR, refused)])
    started.append(jobs)
    with capture_logs() as logs:
        jobs.start()
        wait_for(lambda: len(calls) == 1)
        wait_for(lambda: any(e["event"] == "job.failed" for e in logs))
    failed = [e for e in logs if e["event"] == "job.failed"]
    assert failed[0]["error"] == "AuthError"
    assert "check SF_CLIENT_ID" in failed[0]["detail"]
    assert "exc_info" not in failed[0]


def test_wake_runs_a_job_now_instead_of_at_its_interval(started: list[Jobs]) -> None:
    runs: list[float] = []
    jobs = Jobs([Job("writeback", HOUR, lambda _: runs.append(time.monotonic()))])
    started.append(jobs)
    jobs.start()
    wait_for(lambda: len(runs) == 1)  # the start-up pass
    woke = time.monotonic()
    assert jobs.wake("writeback")
    wait_for(lambda: len(runs) == 2, timeout=5)
    assert runs[1] - woke < 2.0
    assert not jobs.wake("no-such-job")


def test_a_wake_during_a_run_is_not_lost(started: list[Jobs]) -> None:
    gate = threading.Event()
    entered = threading.Event()
    runs: list[int] = []

    def slow(_: threading.Event) -> None:
        runs.append(1)
        entered.set()
        gate.wait(10)

    jobs = Jobs([Job("writeback", HOUR, slow)])
    started.append(jobs)
    jobs.start()
    assert entered.wait(5)
    jobs.wake("writeback")  # arrives while the first run is still going
    gate.set()
    wait_for(lambda: len(runs) == 2)
    wait_for(lambda: jobs.running() == [])
    assert len(runs) == 2


def test_shutdown_stops_claiming_and_waits_for_the_batch_in_flight(started: list[Jobs]) -> None:
    batches: list[int] = []
    entered = threading.Event()

    def drain(stopping: threading.Event) -> None:
        entered.set()
        while not stopping.is_set():
            time.sleep(0.05)
            batches.append(1)
        time.sleep(0.3)  # the batch in flight settles after the stop
        batches.append(-1)

    jobs = Jobs([Job("writeback", HOUR, drain)])
    started.append(jobs)
    jobs.start()
    assert entered.wait(5)
    began = time.monotonic()
    unfinished = jobs.shutdown(5)
    assert unfinished == []
    assert batches[-1] == -1
    assert time.monotonic() - began < 3
    assert not jobs.wake("writeback")  # nothing new starts once stopping


def test_shutdown_reports_a_job_that_overruns_the_timeout(started: list[Jobs]) -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(_: threading.Event) -> None:
        entered.set()
        release.wait(10)

    jobs = Jobs([Job("stuck", HOUR, stuck)])
    started.append(jobs)
    jobs.start()
    assert entered.wait(5)
    assert jobs.shutdown(0.2) == ["stuck"]
    release.set()


def test_only_the_leader_runs_a_job() -> None:
    ran: list[str] = []
    jobs = Jobs(
        [
            Job("blocked", HOUR, lambda _: ran.append("blocked")),
            Job("free", HOUR, lambda _: ran.append("free")),
        ],
        NotLeader(),
    )
    assert not jobs.run_once("blocked")
    assert jobs.run_once("free")
    assert ran == ["free"]


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Jobs([Job("a", 1, lambda _: None), Job("a", 2, lambda _: None)])
