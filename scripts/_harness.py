"""What the process-level scripts (crash_loop.py, replicas.py) share: a free port,
`smsync run` as a child process that can be waited on, SIGKILLed or stopped, a numbered
replica that says which jobs it leads, and a scratch Postgres schema
(`tests/scratch.py`) on the test server."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LEADER_LINE = re.compile(r'^smsync_job_leader\{job="([^"]+)"\} ([0-9.]+)$', re.MULTILINE)


def scratch_schema(base_url: str, prefix: str) -> contextlib.AbstractContextManager[str]:
    """A fresh schema on `base_url`, dropped on exit (the helper lives with the tests, in
    tests/scratch.py, outside the installed package)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.scratch import scratch_schema as fresh_schema

    return fresh_schema(base_url, prefix)


@contextlib.contextmanager
def scratch_db(url: str | None, prefix: str = "smsync_replicas") -> Iterator[str]:
    """`url` as given (the caller owns its schema), or a fresh schema on the test server
    (SMSYNC_TEST_DATABASE_URL, else the local one), dropped afterwards."""
    if url is not None:
        yield url
        return
    base = os.environ.get("SMSYNC_TEST_DATABASE_URL") or DEFAULT_PG
    with scratch_schema(base, prefix) as scoped:
        yield scoped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmsyncRun:
    """One `smsync run` child process serving on `port`, its output appended to `log`."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=self._out,
        )
        self.session = requests.Session()
        self.session.trust_env = False

    def wait_healthy(self, timeout: float = 60) -> bool:
        """True once /healthz answers 200; False if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(requests.RequestException):
                if self.session.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def wait_exit(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._out.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        if self.proc.poll() is not None:
            self._out.close()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._out.close()
        return code

    def tail(self, lines: int = 20) -> list[str]:
        text = self.log.read_text(errors="replace").splitlines()
        return [line[:300] for line in text[-lines:]]


class Replica(SmsyncRun):
    """One `smsync run` replica, numbered, that says which jobs it leads."""

    def __init__(self, index: int, env: dict[str, str], log: Path) -> None:
        super().__init__(env, int(env["SMSYNC_HTTP_PORT"]), log)
        self.index = index
        self.worker_id = f"{socket.gethostname()}:{self.proc.pid}"  # as `smsync run` names it

    def wait_up(self, timeout: float = 60) -> None:
        if not self.wait_healthy(timeout):
            code = self.proc.poll()
            state = f"exited with {code}" if code is not None else "did not become healthy"
            raise RuntimeError(f"replica {self.index} {state}")

    def leads(self) -> set[str] | None:
        """The jobs this replica leads now, from its /metrics; None when it does not answer."""
        try:
            text = self.session.get(f"{self.base}/metrics", timeout=2).text
        except requests.RequestException:
            return None
        return {job for job, value in LEADER_LINE.findall(text) if float(value) == 1.0}
