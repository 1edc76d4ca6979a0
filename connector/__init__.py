"""smsync: keeps a CRM and an SMS provider telling one story, with governed sending."""

from importlib.metadata import PackageNotFoundError, version

from connector.logs import configure_default

try:
    __version__ = version("smsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

configure_default()
