"""The `k8sclaw-apiserver` process: uvicorn serving `build_app`, WebSocket pings every
15 s (a dead peer behind a proxy is noticed; reference `de46d0e`), small frames only."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

import uvicorn

from k8sclaw_controllers.apiserver._app import build_app
from k8sclaw_controllers.apiserver._settings import Settings, resolve

WS_MAX_INBOUND = 64 * 1024  # clients send nothing we read; cap what they may


def config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(settings),
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
    server = uvicorn.Server(config(settings))
    server.run()
    return 0 if server.started else 1
