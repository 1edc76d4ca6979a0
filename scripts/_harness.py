"""What the process-level scripts (crash_loop.py, replicas.py) share: a free port, a scratch
Postgres schema, and `smsync run` as a child process that can be waited on, SIGKILLed or
stopped."""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def scratch_schema(base_url: str, prefix: str) -> Iterator[str]:
    """`base_url` scoped to a fresh schema (`<prefix>_<random>`), dropped afterwards, so a
    run never touches what is already in the database."""
    from connector.store import make_engine

    schema = f"{prefix}_{secrets.token_hex(5)}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


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
