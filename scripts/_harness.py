"""What the process-level scripts (crash_loop.py, replicas.py) share: a free port and
`smsync run` as a child process that can be waited on, SIGKILLed or stopped. (Their scratch
Postgres schema is `connector.store.scratch`.)"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


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
