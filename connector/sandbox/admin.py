"""The admin API (`/__sandbox/*`), served on its own URL so tests and demos can count calls,
inject faults, seed data, move the clock and count duplicates without touching the
vendor surfaces the connector sees."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from connector.sandbox.core import Emulator, SandboxState
from connector.sandbox.faults import FaultSpec
from connector.sandbox.seed import generate
from connector.sandbox.vendors import VENDORS


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")  # noqa: TRY004 - a 400, not a bug
    return data


class AdminApi:
    """Handlers of `/__sandbox/*`; state lives in SandboxState and the emulators."""

    def __init__(self, state: SandboxState, emulators: dict[str, Emulator]) -> None:
        self.state = state
        self.emulators = emulators

    async def stats(self, _: Request) -> JSONResponse:
        return JSONResponse(self.state.stats.snapshot())

    async def faults(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.state.faults.clear()
        return JSONResponse(self.state.faults.snapshot())

    async def vendor_faults(self, request: Request) -> JSONResponse:
        vendor = request.path_params["vendor"]
        if vendor not in VENDORS:
            return _error(404, f"unknown vendor {vendor!r}; one of {', '.join(VENDORS)}")
        if request.method == "DELETE":
            self.state.faults.clear(vendor)
        elif request.method == "POST":
            try:
                spec = FaultSpec.model_validate(await _json(request))
            except ValidationError as exc:
                return _error(
                    400, f"invalid fault spec: {exc}", detail=exc.errors(include_url=False)
                )
            except ValueError as exc:
                return _error(400, f"invalid fault spec: {exc}")
            self.state.faults.set(vendor, spec)
        return JSONResponse(self.state.faults.snapshot()[vendor])

    async def reset(self, request: Request) -> JSONResponse:
        body = await _json(request)
        what = set(body.get("what", ["data", "stats", "faults", "clock"]))
        if "data" in what:
            for emulator in self.emulators.values():
                emulator.reset()
        if "stats" in what:
            self.state.stats.reset()
        if "faults" in what:
            self.state.faults.clear()
        if "clock" in what:
            self.state.clock.set(datetime.now(UTC))
        return JSONResponse({"reset": sorted(what)})

    async def seed(self, request: Request) -> JSONResponse:
        body = await _json(request)
        try:
            count = int(body.get("contacts", 100))
            rng_seed = int(body.get("seed", 7))
        except (TypeError, ValueError):
            return _error(400, "contacts and seed must be integers")
        try:
            deal_share = float(body.get("deal_share", 0.0))
        except (TypeError, ValueError):
            return _error(400, "deal_share must be a number between 0 and 1")
        if not 0 <= count <= 500_000:
            return _error(400, "contacts must be between 0 and 500000")
        if not 0.0 <= deal_share <= 1.0:
            return _error(400, "deal_share must be a number between 0 and 1")
        data = generate(count, seed=rng_seed, deal_share=deal_share)
        created = {name: emu.seed(data) for name, emu in self.emulators.items()}
        return JSONResponse({"contacts": count, "created": created})

    async def clock(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _json(request)
            try:
                if "advance_s" in body:
                    self.state.clock.advance(float(body["advance_s"]))
                elif "set" in body:
                    self.state.clock.set(
                        datetime.fromisoformat(str(body["set"])),
                        freeze=bool(body.get("freeze", False)),
                    )
                elif body.get("freeze") is False:
                    self.state.clock.unfreeze()
                else:
                    return _error(400, "send {advance_s: N} or {set: ISO8601, freeze: bool}")
            except ValueError as exc:
                return _error(400, f"bad clock request: {exc}")
        return JSONResponse({"now": self.state.clock.now().isoformat()})

    async def records(self, request: Request) -> JSONResponse:
        emulator = self.emulators.get(request.path_params["vendor"])
        if emulator is None:
            return _error(404, "unknown vendor")
        field = request.query_params.get("field")
        value = request.query_params.get("value")
        if not field or value is None:
            return _error(400, "query parameters field and value are required")
        found = emulator.find(request.path_params["object"], field, value)
        return JSONResponse({"count": len(found), "records": found})

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/__sandbox/stats", self.stats),
            Route("/__sandbox/faults", self.faults, methods=["GET", "DELETE"]),
            Route(
                "/__sandbox/faults/{vendor}", self.vendor_faults, methods=["GET", "POST", "DELETE"]
            ),
            Route("/__sandbox/reset", self.reset, methods=["POST"]),
            Route("/__sandbox/seed", self.seed, methods=["POST"]),
            Route("/__sandbox/clock", self.clock, methods=["GET", "POST"]),
            Route("/__sandbox/records/{vendor}/{object}", self.records),
        ]
        for name, emulator in self.emulators.items():
            extra = emulator.admin_routes()
            if extra:
                routes.append(Mount(f"/__sandbox/{name}", routes=extra))
        return routes


def build_admin(state: SandboxState, emulators: dict[str, Emulator]) -> Starlette:
    return Starlette(routes=AdminApi(state, emulators).routes())
