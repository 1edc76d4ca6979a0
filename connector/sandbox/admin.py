"""The admin API (`/__sandbox/*`), served on its own URL so tests and demos can count calls,
inject faults, seed data, move the clock and count duplicates without touching the
vendor surfaces the connector sees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from connector.sandbox.core import VENDORS, Emulator, FaultSpec, SandboxState
from connector.sandbox.seed import generate


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def build_admin(state: SandboxState, emulators: dict[str, Emulator]) -> Starlette:
    def vendor_of(request: Request) -> Emulator | None:
        return emulators.get(request.path_params["vendor"])

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(state.stats.snapshot())

    async def faults(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(state.faults.snapshot())
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse(state.faults.snapshot())
        return _error(405, "use GET, DELETE, or POST /__sandbox/faults/{vendor}")

    async def vendor_faults(request: Request) -> JSONResponse:
        vendor = request.path_params["vendor"]
        if vendor not in VENDORS:
            return _error(404, f"unknown vendor {vendor!r}; one of {', '.join(VENDORS)}")
        if request.method == "DELETE":
            state.faults.clear(vendor)
        elif request.method == "POST":
            try:
                spec = FaultSpec.model_validate(await _json(request))
            except (ValidationError, ValueError) as exc:
                detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
                return _error(400, f"invalid fault spec: {exc}", detail=detail)
            state.faults.set(vendor, spec)
        return JSONResponse(state.faults.snapshot()[vendor])

    async def reset(request: Request) -> JSONResponse:
        body = await _json(request)
        what = set(body.get("what", ["data", "stats", "faults", "clock"]))
        if "data" in what:
            for emulator in emulators.values():
                emulator.reset()
        if "stats" in what:
            state.stats.reset()
        if "faults" in what:
            state.faults.clear()
        if "clock" in what:
            state.clock.set(datetime.now(state.clock.now().tzinfo))
        return JSONResponse({"reset": sorted(what)})

    async def seed(request: Request) -> JSONResponse:
        body = await _json(request)
        try:
            count = int(body.get("contacts", 100))
            rng_seed = int(body.get("seed", 7))
        except (TypeError, ValueError):
            return _error(400, "contacts and seed must be integers")
        if not 0 <= count <= 500_000:
            return _error(400, "contacts must be between 0 and 500000")
        data = generate(count, seed=rng_seed)
        created = {name: emu.seed(data) for name, emu in emulators.items()}
        return JSONResponse({"contacts": count, "created": created})

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _json(request)
            try:
                if "advance_s" in body:
                    state.clock.advance(float(body["advance_s"]))
                elif "set" in body:
                    state.clock.set(
                        datetime.fromisoformat(str(body["set"])),
                        freeze=bool(body.get("freeze", False)),
                    )
                elif body.get("freeze") is False:
                    state.clock.unfreeze()
                else:
                    return _error(400, "send {advance_s: N} or {set: ISO8601, freeze: bool}")
            except ValueError as exc:
                return _error(400, f"bad clock request: {exc}")
        return JSONResponse({"now": state.clock.now().isoformat()})

    async def records(request: Request) -> JSONResponse:
        emulator = vendor_of(request)
        if emulator is None:
            return _error(404, "unknown vendor")
        field = request.query_params.get("field")
        value = request.query_params.get("value")
        if not field or value is None:
            return _error(400, "query parameters field and value are required")
        found = emulator.find(request.path_params["object"], field, value)
        return JSONResponse({"count": len(found), "records": found})

    routes: list[BaseRoute] = [
        Route("/__sandbox/stats", stats),
        Route("/__sandbox/faults", faults, methods=["GET", "DELETE"]),
        Route("/__sandbox/faults/{vendor}", vendor_faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sandbox/reset", reset, methods=["POST"]),
        Route("/__sandbox/seed", seed, methods=["POST"]),
        Route("/__sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/__sandbox/records/{vendor}/{object}", records),
    ]
    for name, emulator in emulators.items():
        extra = emulator.admin_routes()
        if extra:
            routes.append(Mount(f"/__sandbox/{name}", routes=extra))
    return Starlette(routes=routes)
