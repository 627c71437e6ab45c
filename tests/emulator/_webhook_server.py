"""A scripted HTTPS admission webhook on 127.0.0.1 for the webhook fidelity tests."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from collections.abc import Callable
from typing import Any

import trustme
from aiohttp import web

Review = dict[str, Any]
Responder = Callable[[Review], dict[str, Any]]


class WebhookServer:
    """Answers every AdmissionReview with `responder(request)`; records the requests."""

    def __init__(self, responder: Responder, hostnames: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.responder = responder
        self.requests: list[Review] = []
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert(*hostnames)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca.cert_pem.bytes()).decode()

    async def _handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.requests.append(review["request"])
        answer = {"uid": review["request"]["uid"], **self.responder(review["request"])}
        body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer}
        return web.json_response(body)

    async def _start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _stop(self) -> None:
        assert self._runner is not None
        # The API server keeps connections alive; abort them rather than start a TLS
        # shutdown that the stopping loop would never finish (an unclosed transport).
        for handler in self._runner.server.connections if self._runner.server else []:
            if handler.transport is not None:
                handler.transport.abort()
        await self._runner.cleanup()

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def json_patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The mutating part of an AdmissionResponse."""
    return {
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": base64.b64encode(json.dumps(ops).encode()).decode(),
    }
