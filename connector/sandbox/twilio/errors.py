"""Twilio's REST error bodies: `{code, message, more_info, status}`, one helper per case."""

from __future__ import annotations

from starlette.responses import JSONResponse


def twilio_error(
    code: int | str, message: str, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


def unauthorized() -> JSONResponse:
    return twilio_error(
        20003, "Authenticate", 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'}
    )


def not_found(path: str) -> JSONResponse:
    return twilio_error(20404, f"The requested resource {path} was not found", 404)


def too_many_requests(retry_after: float | None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return twilio_error(20429, "Too Many Requests", 429, headers)


def bad_request(code: int, message: str) -> JSONResponse:
    return twilio_error(code, message, 400)
