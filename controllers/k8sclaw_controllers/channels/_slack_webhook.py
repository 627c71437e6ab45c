"""Events API mode: Slack POSTs events and button presses to the pod (needs a Service/Ingress).

`POST /slack/events` (JSON: `url_verification` challenges and `event_callback`s) and
`POST /slack/actions` (form field `payload`: interactivity). Every request must carry a valid
`X-Slack-Signature` for its body and an `X-Slack-Request-Timestamp` within five minutes
(slack-sdk's `SignatureVerifier`), else 401 before anything is parsed; bodies are capped.
A payload that could not be handed on gets 500, so Slack retries it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from k8sclaw_controllers.channels._slack_events import Handler, Kind

MAX_BODY_BYTES: Final = 1024 * 1024
_TIMESTAMP_DIGITS: Final = 12
log = logging.getLogger(__name__)


class Webhook:
    """The aiohttp application answering Slack's HTTP callbacks."""

    def __init__(self, signing_secret: str, handle: Handler) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._handle = handle

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/slack/events", self._events)
        app.router.add_post("/slack/actions", self._actions)
        return app

    def _signed(self, request: web.Request, body: bytes) -> bool:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _TIMESTAMP_DIGITS:
            return False
        return self._verifier.is_valid(body, timestamp, signature)

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed(request, body):
            return web.Response(status=401, text="invalid signature")
        payload = _json(body)
        if not isinstance(payload, dict):
            return web.Response(status=400, text="not a JSON object")
        if payload.get("type") == "url_verification":
            return web.Response(text=str(payload.get("challenge", ""))[:256])
        if payload.get("type") == "event_callback":
            return await self._hand_on("event", payload.get("event"))
        return web.Response(text="")

    async def _actions(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed(request, body):
            return web.Response(status=401, text="invalid signature")
        form = await request.post()
        payload = _json(str(form.get("payload", "")).encode())
        return await self._hand_on("action", payload)

    async def _hand_on(self, kind: Kind, payload: Any) -> web.Response:
        try:
            await self._handle(kind, payload)
        except Exception:
            log.exception("Slack %s not handed on; answering 500 so Slack retries", kind)
            return web.Response(status=500, text="try again")
        return web.Response(text="")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
