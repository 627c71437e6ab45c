"""`/healthz` of a channel pod: 200 while the platform connection is up, else 503; the
body is the state and the platform's message (the readiness probe reads it)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from k8sclaw_controllers.channels._listener import Listener
from k8sclaw_protocol._chat import HealthState

State = Callable[[], tuple[HealthState, str | None]]


class HealthServer:
    """A tiny aiohttp server; `state` is read on every request."""

    def __init__(self, state: State, port: int, host: str = "0.0.0.0") -> None:
        self._state, self._listener = state, Listener(host, port)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        await self._listener.serve(app)

    async def close(self) -> None:
        await self._listener.close()

    async def _healthz(self, _: web.Request) -> web.Response:
        state, message = self._state()
        body = f"{state}: {message}\n" if message else f"{state}\n"
        return web.Response(text=body, status=200 if state == "Connected" else 503)
