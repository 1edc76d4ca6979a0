"""The twilio emulator."""
