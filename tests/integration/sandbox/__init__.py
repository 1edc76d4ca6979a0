"""Sandbox emulator tests, driven by the real vendor SDKs."""
