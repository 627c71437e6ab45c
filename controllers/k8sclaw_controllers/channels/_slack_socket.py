"""Socket Mode: Slack pushes events over a WebSocket the pod opens, so no ingress is needed.

slack-sdk's aiohttp `SocketModeClient` speaks the protocol (`apps.connections.open`, hello,
envelopes, acks, pings, `disconnect` refreshes). Its own reconnect loop is switched off: one
`serve` call is one connection, and when it is lost `serve` raises `UnavailableError` so the
channel runtime reports `Disconnected` and calls `run` again after its back-off. A Slack
`disconnect` refresh is still handled inside the SDK without surfacing as a loss.

An envelope is acknowledged after its message was handed on: if handing on fails, Slack
redelivers it (the adapter and the router drop duplicates by chat and message id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from k8sclaw_controllers.channels import _slack_api
from k8sclaw_controllers.channels._adapter import UnavailableError
from k8sclaw_controllers.channels._slack_events import Handler, Kind

Connected = Callable[[], Awaitable[None]]
"""Called once Slack accepted the connection (the runtime then reports `Connected`)."""
CONNECT_TIMEOUT: Final = 10.0
WATCH_INTERVAL: Final = 0.2
REFRESH_GRACE: Final = 15.0
"""How long an SDK-driven `disconnect` refresh may take before it counts as a loss."""
_KINDS: Final[dict[str, Kind]] = {"events_api": "event", "interactive": "action"}
log = logging.getLogger(__name__)


async def serve(
    web: AsyncWebClient,
    app_token: str,
    handle: Handler,
    connected: Connected,
    ping_interval: float = 5.0,
) -> None:
    """Connect, call `connected()` once Slack says hello, hand on envelopes until the
    connection is lost (then raise `UnavailableError`) or the task is cancelled."""
    opened = await _slack_api.call(web.apps_connections_open(app_token=app_token))
    client = SocketModeClient(
        app_token,
        web_client=web,
        auto_reconnect_enabled=False,
        ping_interval=ping_interval,
        logger=logging.getLogger("k8sclaw.channels.slack.sdk"),
    )
    hello, lost = asyncio.Event(), asyncio.Event()
    client.message_listeners.append(_listener(handle, hello))
    client.on_close_listeners.append(lambda _message: _set(lost))
    client.on_error_listeners.append(lambda _message: _set(lost))
    client.wss_uri = str(opened["url"])
    try:
        await _connect(client, hello)
        await connected()
        await _watch(client, lost)
        raise UnavailableError("Slack Socket Mode connection lost")
    finally:
        await client.close()  # type: ignore[no-untyped-call]


async def _connect(client: SocketModeClient, hello: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(client.connect(), CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
        await asyncio.wait_for(hello.wait(), CONNECT_TIMEOUT)
    except TimeoutError as error:
        raise UnavailableError("Slack Socket Mode did not connect") from error


async def _set(event: asyncio.Event) -> None:
    event.set()


async def _watch(client: SocketModeClient, lost: asyncio.Event) -> None:
    """Return once the connection is gone for good (not while the SDK refreshes it)."""
    loop = asyncio.get_running_loop()
    refreshing_since: float | None = None
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), WATCH_INTERVAL)
        lost.clear()
        if await client.is_connected():
            refreshing_since = None
            continue
        if not client.connect_operation_lock.locked():
            return
        refreshing_since = refreshing_since or loop.time()
        if loop.time() - refreshing_since > REFRESH_GRACE:
            return


def _listener(
    handle: Handler, hello: asyncio.Event
) -> Callable[[AsyncBaseSocketModeClient, dict[str, Any], str | None], Awaitable[None]]:
    async def on_frame(
        client: AsyncBaseSocketModeClient, frame: dict[str, Any], _raw: str | None
    ) -> None:
        if not isinstance(frame, dict):
            return
        kind, envelope_id = frame.get("type"), frame.get("envelope_id")
        if kind == "hello":
            hello.set()
            return
        if kind not in _KINDS or not isinstance(envelope_id, str) or len(envelope_id) > 256:
            return
        payload = frame.get("payload")
        if _KINDS[kind] == "event":
            payload = payload.get("event") if isinstance(payload, dict) else None
        try:
            await handle(_KINDS[kind], payload)
        except Exception:  # not acked, so Slack redelivers it
            log.exception("Slack %s envelope not handed on; Slack will redeliver it", kind)
            return
        await client.send_socket_mode_response({"envelope_id": envelope_id})

    return on_frame
