"""The vendors the sandbox emulates."""

from __future__ import annotations

from typing import Literal

Vendor = Literal["salesforce", "hubspot", "twilio"]
VENDORS: tuple[Vendor, ...] = ("salesforce", "hubspot", "twilio")
