"""One aiohttp app served on a host and port until closed: what the health endpoint and
the webhook receivers share (setup, bind, cleanup; no access log, which would print
platform payload paths and the bot's webhook secret path)."""

from __future__ import annotations

from aiohttp import web


class Listener:
    """Serves `app` on (host, port) from `serve` until `close`; `close` is idempotent."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
