"""Serve an ASGI app (the webhook app, say) behind a real uvicorn server on a loopback
port, in a thread, so tests reach it over real HTTP."""

from __future__ import annotations

import threading

import uvicorn
from starlette.types import ASGIApp

from connector.sandbox.server import bind_loopback


class Served:
    def __init__(self, app: ASGIApp) -> None:
        self.sock = bind_loopback()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the served app did not start")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
