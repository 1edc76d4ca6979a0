"""The hubspot emulator."""
