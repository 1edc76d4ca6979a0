"""HubSpot's error bodies, raised inside handlers and rendered once by the route wrapper.

Every body carries `status: "error"`, a `message`, a `correlationId` and a `category`, as
the real API's do; the SDK surfaces them as `ApiException.body`."""

from __future__ import annotations

import json
import uuid
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """A whole-request failure: `status` plus HubSpot's JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str,
        *,
        context: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": correlation_id(),
            "category": category,
            **extra,
        }
        if context:
            self.body["context"] = context


def validation_error(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def property_errors(problems: list[dict[str, Any]]) -> HubSpotError:
    """HubSpot lists each bad property, JSON-encoded, inside the message."""
    detail = json.dumps(problems, separators=(",", ":"))
    return validation_error(f"Property values were not valid: {detail}")


def not_found(object_label: str, key: str) -> HubSpotError:
    return HubSpotError(
        404,
        f"resource not found: {object_label} {key} does not exist",
        "OBJECT_NOT_FOUND",
        context={"id": [key]},
    )


def record_error(
    category: str, message: str, *, context: dict[str, list[str]], record_id: str | None = None
) -> dict[str, Any]:
    """One entry of a 207 body's `errors[]`: the shape `StandardError` deserialises."""
    out: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }
    if record_id is not None:
        out["id"] = record_id
    return out
