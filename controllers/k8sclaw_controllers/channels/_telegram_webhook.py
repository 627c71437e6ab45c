"""Telegram webhook mode: the platform POSTs each update to the pod (through the Service
and Ingress the controller creates), which answers 200 only once the update is on the bus
(Telegram retries anything else, so nothing is lost).

Every request must carry `X-Telegram-Bot-Api-Secret-Token` equal to the secret given to
`setWebhook` (compared in constant time), else 403; bodies are capped in bytes.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from k8sclaw_controllers.channels._listener import Listener

log = logging.getLogger("k8sclaw.channel.telegram")
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES: Final = 1024 * 1024

Handle = Callable[[dict[str, Any]], Awaitable[None]]


class WebhookReceiver:
    """An aiohttp server on (host, port) with one POST route."""

    def __init__(self, *, path: str, secret: str, host: str, port: int, handle: Handle) -> None:
        self._path, self._secret, self._handle = path or "/", secret, handle
        self._listener = Listener(host, port)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(self._path, self._receive)
        await self._listener.serve(app)

    async def close(self) -> None:
        await self._listener.close()

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("refused a webhook request without the right secret token")
            return web.Response(status=403, text="forbidden\n")
        try:
            body = json.loads(await request.read())
        except (ValueError, web.HTTPRequestEntityTooLarge):
            return web.Response(status=400, text="not a JSON update\n")
        if not isinstance(body, dict):
            return web.Response(status=400, text="not a JSON update\n")
        await self._handle(body)
        return web.Response(text="ok\n")
