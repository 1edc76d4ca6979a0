"""`smsync sandbox serve`: one JSON line once listening, an `env` that points the connector
at it, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connector.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
ENV_KEYS = {
    "SMSYNC_CRM",
    "SMSYNC_CA_FILE",
    "SMSYNC_PUBLIC_BASE_URL",
    "SF_LOGIN_URL",
    "SF_CLIENT_ID",
    "SF_CLIENT_SECRET",
    "SF_USERNAME",
    "SF_PASSWORD",
    "SF_JWT_KEY_FILE",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_BASE_URL",
}


def test_serve_prints_one_line_and_stops_on_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "serve", "--seed-contacts", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    ) as proc:
        _check_serving(proc, monkeypatch)


def _check_serving(proc: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert {"salesforce", "hubspot", "twilio", "admin", "ca_file", "env"} <= set(info)
        assert info["salesforce"].startswith("https://")
        assert Path(info["ca_file"]).is_file()
        assert set(info["env"]) == ENV_KEYS
        assert info["env"]["SMSYNC_CA_FILE"] == info["ca_file"]

        stats = requests.get(f"{info['admin']}/__sandbox/stats", timeout=10).json()
        assert set(stats) == {"salesforce", "hubspot", "twilio"}
        found = requests.get(
            f"{info['hubspot']}/crm/v3/objects/contacts",
            headers={"Authorization": f"Bearer {info['env']['HUBSPOT_ACCESS_TOKEN']}"},
            params={"limit": 100},
            timeout=10,
        ).json()
        assert len(found["results"]) == 30

        for key, value in info["env"].items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert settings.crm == "salesforce"
        assert settings.sf_login_url == info["salesforce"]
        monkeypatch.setenv("SMSYNC_CRM", "hubspot")
        hub = load_settings()
        assert hub.crm == "hubspot"
        assert hub.hubspot_base_url == info["hubspot"]
        assert hub.twilio_auth_token is not None
        assert hub.twilio_auth_token.get_secret_value() == info["env"]["TWILIO_AUTH_TOKEN"]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not Path(info["ca_file"]).exists()  # its temporary files are cleaned up
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_on_a_taken_port_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "connector.cli", "sandbox", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")},
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot listen on port {port}" in result.stderr
