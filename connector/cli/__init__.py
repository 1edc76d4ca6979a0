"""The `smsync` command. Exit codes: 0 ok, 1 runtime failure, 2 bad input or not built yet.

One module per command group; importing them registers their commands on `app`, in the
order `smsync --help` lists them."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

from connector.cli.app import EXIT_USAGE, app
from connector.errors import ConfigError, SmsyncError

__all__ = ["app", "main"]

# registered in this order (after `version`), which is the order of `smsync --help`
COMMAND_MODULES = (
    "sandbox",
    "sidecar",
    "texts",
    "reports",
    "ops_status",
    "ops_failures",
    "ops_consent",
    "db",
    "mappings",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"connector.cli.{_name}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        _print_and_exit(str(exc), EXIT_USAGE)
    except SmsyncError as exc:
        _print_and_exit(str(exc), 1)


def _print_and_exit(message: str, code: int) -> NoReturn:
    from connector.logs import scrub_text

    sys.stderr.write(scrub_text(message) + "\n")
    sys.exit(code)
