"""The `k8sclaw-apiserver` process: uvicorn serving `build_app`, WebSocket pings every
15 s (a dead peer behind a proxy is noticed; reference `de46d0e`), small frames only.

With `--secure-addr`, a second (TLS) uvicorn server serves the same application in the
same event loop once the first has started: the lifespan (cluster client, store, front-proxy
settings) runs once, and the TLS context needs the request-header CA and the serving pair
first (`_secure.SecureTls`, re-checked on a timer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from k8sclaw_controllers.apiserver._app import build_app
from k8sclaw_controllers.apiserver._secure import SecureTls, secure_config
from k8sclaw_controllers.apiserver._settings import Settings, resolve

WS_MAX_INBOUND = 64 * 1024  # clients send nothing we read; cap what they may


def config(settings: Settings, app: Any = None) -> uvicorn.Config:
    return uvicorn.Config(
        app if app is not None else build_app(settings),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds * 2,
        ws_max_size=WS_MAX_INBOUND,
        # Compression would run once per client per frame (no shared context): at 1,000
        # subscribers that is 1,000 deflates of every event, for frames of a few hundred bytes.
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="info",
        access_log=False,
        server_header=False,
    )


def openapi_document() -> str:
    """The OpenAPI document as committed in docs/openapi.json (stable key order)."""
    return json.dumps(build_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--print-openapi" in args:
        sys.stdout.write(openapi_document())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = resolve(args)
    except ValueError as exc:
        print(f"k8sclaw-apiserver: {exc}", file=sys.stderr)
        return 2
    process = Process(settings)
    asyncio.run(process.serve())
    return 0 if process.plain.started else 1


class Process:
    """The plain listener and, when configured, the TLS one; `stop()` ends both."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = build_app(settings)
        self.plain = uvicorn.Server(config(settings, self.app))
        self.secure: uvicorn.Server | None = None
        self.tls: SecureTls | None = None

    @property
    def started(self) -> bool:
        wanted = self.settings.secure_port is None or self.secure is not None
        return self.plain.started and wanted and (self.secure is None or self.secure.started)

    def secure_port(self) -> int:
        """The TLS listener's bound port (after `started`)."""
        assert self.secure is not None and self.secure.servers
        return int(self.secure.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        self.plain.should_exit = True
        if self.secure is not None:
            self.secure.should_exit = True

    async def serve(self) -> None:
        plain = asyncio.create_task(self.plain.serve())
        if self.settings.secure_port is None:
            await plain
            return
        while not self.plain.started:
            if plain.done():
                await plain
                return
            await asyncio.wait({plain}, timeout=0.05)
        self.tls = SecureTls(self.settings, self.app.state.deps)
        await self.tls.refresh()
        self.secure = uvicorn.Server(secure_config(self.app, self.settings, self.tls.serving))
        secure = asyncio.create_task(self.secure.serve())
        refresher = asyncio.create_task(self.tls.refresh_forever())
        await asyncio.wait({plain, secure}, return_when=asyncio.FIRST_COMPLETED)
        self.stop()
        refresher.cancel()
        await asyncio.gather(plain, secure, refresher, return_exceptions=True)
