"""Fixtures every test module can use. Plugins are registered here, once, as pytest asks
(a `pytest_plugins` list in a test module breaks when another module imported it first)."""

pytest_plugins = ["tests.integration.store_fixtures"]
