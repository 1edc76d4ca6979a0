"""Settings as an operator gets them after exporting the sandbox's `env()`: through the
environment, so every alias (TWILIO_ACCOUNT_SID, SF_*...) is read the way `smsync` reads it."""

from __future__ import annotations

import pytest

from connector.config import Settings, load_settings
from connector.sandbox.server import Sandbox


def sandbox_settings(sb: Sandbox, **env: str) -> Settings:
    """`sb.env()` plus `env` (e.g. SMSYNC_CRM="hubspot"), without touching os.environ."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**sb.env(), **env}.items():
            mp.setenv(key, value)
        return load_settings()
