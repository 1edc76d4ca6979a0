"""structlog set-up: JSON off a TTY, console on one, and redaction before any renderer.

Redaction is a processor, so no call site has to remember it: secrets by key name and by
shape (bearer tokens, Basic auth, Salesforce session ids), phone numbers by shape."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|session[_-]?id|signature|cookie|"
    r"private[_-]?key|client[_-]?secret|credential)",
    re.IGNORECASE,
)
# Phone numbers, and only phone numbers, so that ids in logs still match the database:
# a `+` number (E.164, also inside `whatsapp:+...`, spaces or dashes allowed between
# digits), or a NANP number written as one ((415) 555-0123, 415.555.0123, 1-415-555-0123)
# with a valid area code and exchange. A bare digit run (`consent:crm@1796211056`, an
# epoch, a sid) is not a phone number by shape; fields named like one are masked by name.
_PHONE = re.compile(
    r"\+\d(?:[ .()-]{0,2}\d){6,14}(?!\d)"
    r"|(?<![\w+])(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?![\w])"
)
_PHONE_KEY = re.compile(
    r"^(phone|phones|phone_number|to|from|from_|to_number|from_number|mobile|sender|recipient)$",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_SF_SESSION = re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]{20,}")
_KNOWN: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a configured secret so that it is masked wherever it appears in a log."""
    if value and len(value) >= 6:
        _KNOWN.add(value)


def mask_phone(number: str) -> str:
    """+14155550123 -> +1415***0123: enough to tell numbers apart, not to dial one."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 8:
        return MASK
    prefix = "+" if number.strip().startswith("+") else ""
    return f"{prefix}{digits[:4]}{MASK}{digits[-4:]}"


def scrub_text(text: str) -> str:
    for secret in _KNOWN:
        text = text.replace(secret, MASK)
    text = _SF_SESSION.sub(MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def _scrub_str(value: str, key: str) -> str:
    if key and _PHONE_KEY.match(key) and sum(c.isdigit() for c in value) >= 7:
        return mask_phone(value)
    return scrub_text(value)


def scrub(value: Any, key: str = "") -> Any:
    """Recursively mask secrets (by key name or known value) and phone numbers (by shape,
    or by key name for a field that holds one: `to`, `phone`, ...)."""
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return _scrub_str(value, key)
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, BaseException):
        return scrub_text(f"{type(value).__name__}: {value}")
    return value


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: runs last before rendering."""
    out: MutableMapping[str, Any] = {}
    for k, v in event_dict.items():
        out[k] = scrub(v, k) if k != "event" else scrub(v)
    return dict(out)


def processors(renderer: Processor | None = None) -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    if renderer is not None:
        chain.append(renderer)
    return chain


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """JSON when not on a TTY (containers, CI), console for a person at a terminal.

    Logs go to stderr (looked up at each write, so redirection and test capture see them):
    stdout belongs to a command's output, such as the JSON line of `--json`."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=processors(renderer),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=(
            structlog.PrintLoggerFactory(file=stream)
            if stream is not None
            else lambda *_: structlog.PrintLogger(sys.stderr)
        ),
        cache_logger_on_first_use=False,
    )


def configure_default() -> None:
    """Redacted logs on stderr for any entry point (scripts, library use) that does not
    configure logging itself; structlog's own default would print unredacted to stdout."""
    if not structlog.is_configured():
        level = os.environ.get("SMSYNC_LOG_LEVEL", "info").lower()
        configure(level if level in ("debug", "info", "warning", "error") else "info")


def secrets_from(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
