"""The scripted Discord server: Discord's real gateway (v10, JSON, optional zlib-stream)
and REST wire protocol on 127.0.0.1, for driving discord.py in tests.

Gateway (`/gateway`): HELLO → IDENTIFY → READY + GUILD_CREATE, HEARTBEAT/ACK, numbered
dispatches (MESSAGE_CREATE, INTERACTION_CREATE), RESUME with replay of missed events,
INVALID_SESSION for an unknown session, close 4004 for a bad token. REST (`/api/v10`):
`GET /users/@me`, `GET /oauth2/applications/@me`, `GET /gateway/bot`,
`POST /channels/{id}/messages`, `POST /channels/{id}/typing`,
`POST /interactions/{id}/{token}/callback`; 401 for a bad token, 429 with `retry_after`
as the real API answers it.

Test API: `user_message`/`press` inject what a person does, `sent`/`typing`/`callbacks`
record what the bot did, `refuse_token`/`refuse_identify`/`rate_limit`/`stop`/`start`
script failures, `send_raw` pushes arbitrary (malformed) frames.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.harness.platforms import _aiohttp
from tests.harness.platforms import _discord_payloads as p

TOKEN = "scripted-discord-token"
HEARTBEAT_MS = 41250
WAIT_TIMEOUT = 5.0


@dataclass
class _Session:
    """One gateway session: its sequence numbers and the dispatches for RESUME replay."""

    id: str
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    compressor: Any = None
    session: _Session | None = None

    async def send(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if self.compressor is not None:
            await self.ws.send_bytes(
                self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await self.ws.send_str(raw.decode(errors="replace"))


@dataclass(frozen=True)
class Sent:
    """A `POST /channels/{id}/messages` the bot made."""

    channel_id: str
    body: dict[str, Any]

    @property
    def content(self) -> str:
        return str(self.body.get("content") or "")


class ScriptedDiscord:
    """One running server; `api_url`/`gateway_url` are what the adapter is pointed at."""

    def __init__(self) -> None:
        self.port = 0
        self.refuse_token = False
        self.refuse_identify = False
        """Refuse IDENTIFY (close 4004) while REST still accepts the token."""
        self.sent: list[Sent] = []
        self.typing: list[str] = []
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        self.identifies = 0
        self.resumes = 0
        self._rate_limits: list[float] = []
        self._ids = itertools.count(2_000_000_000_000_000_000)
        self._sessions: dict[str, _Session] = {}
        self._connections: list[_Connection] = []
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def snowflake(self) -> str:
        return str(next(self._ids))

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (again, on the same port after `stop`)."""
        self._runner = web.AppRunner(self._app(), shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Go down: drop every gateway connection (1001) and stop listening."""
        for conn in list(self._connections):
            await conn.ws.close(code=1001, message=b"going away")
        if self._runner is not None:
            await _aiohttp.stop(self._runner)
            self._runner = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        api = "/api/v10"
        app.router.add_get(api + "/users/@me", self._authed(lambda _: p.BOT_USER))
        app.router.add_get(api + "/oauth2/applications/@me", self._authed(_application))
        app.router.add_get(api + "/gateway/bot", self._authed(self._gateway_bot))
        app.router.add_post(api + "/channels/{channel}/messages", self._post_message)
        app.router.add_post(api + "/channels/{channel}/typing", self._post_typing)
        app.router.add_post(api + "/interactions/{id}/{token}/callback", self._callback)
        return app

    # -- test API: what people do -----------------------------------------------------

    async def user_message(
        self, text: str, *, channel: str = p.CHANNEL_ID, author: dict[str, Any] | None = None
    ) -> str:
        """A MESSAGE_CREATE from `author` (a person unless told) in `channel`; its id."""
        message_id = self.snowflake()
        body = p.message(
            message_id, channel, author or p.HUMAN, text, guild=channel != p.DM_CHANNEL_ID
        )
        await self.dispatch("MESSAGE_CREATE", body)
        return message_id

    async def press(
        self, custom_id: str, *, message_id: str, channel: str = p.CHANNEL_ID, user: str = p.USER_ID
    ) -> str:
        """A button press (INTERACTION_CREATE) on the bot's message; the interaction id."""
        interaction_id = self.snowflake()
        body = p.interaction(
            interaction_id, custom_id, message_id=message_id, channel_id=channel, clicker=user
        )
        await self.dispatch("INTERACTION_CREATE", body)
        return interaction_id

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Number and log the event in every session, send it where a connection is live."""
        for session in self._sessions.values():
            session.seq += 1
            session.log.append({"op": 0, "t": event, "s": session.seq, "d": data})
        for conn in list(self._connections):
            if conn.session is not None and not conn.ws.closed:
                await conn.send(json.dumps(conn.session.log[-1]))

    async def send_raw(self, frame: str | bytes) -> None:
        """Push an arbitrary frame (e.g. malformed JSON) on every live connection."""
        for conn in list(self._connections):
            if not conn.ws.closed:
                await conn.send(frame)

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: the client should come back and RESUME."""
        await self.send_raw(json.dumps({"op": 7, "d": None, "s": None, "t": None}))

    def rate_limit(self, retry_after: float, times: int = 1) -> None:
        """The next `times` message posts answer 429 with this `retry_after`."""
        self._rate_limits.extend([retry_after] * times)

    async def wait_until(self, check: Callable[[], bool], seconds: float = WAIT_TIMEOUT) -> None:
        """Wait (bounded) until `check()` holds after something the bot did."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(check)

        await asyncio.wait_for(_wait(), seconds)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- gateway ----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compress = request.query.get("compress") == "zlib-stream"
        conn = _Connection(ws, zlib.compressobj() if compress else None)
        self._connections.append(conn)
        try:
            await conn.send(json.dumps({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}}))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self._connections.remove(conn)
            await self._notify()
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d") or {}
        if op == 1:
            await conn.send(json.dumps({"op": 11}))
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        await self._notify()

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if self.refuse_identify or not self._token_ok(data.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies += 1
        session = _Session(id=self.snowflake())
        self._sessions[session.id] = session
        conn.session = session
        ready = {
            "v": 10,
            "user": p.BOT_USER,
            "guilds": [{"id": p.GUILD_ID, "unavailable": True}],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": p.APPLICATION_ID, "flags": 0},
        }
        for event, body in (("READY", ready), ("GUILD_CREATE", p.guild())):
            session.seq += 1
            await conn.send(json.dumps({"op": 0, "t": event, "s": session.seq, "d": body}))

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(data.get("token")):
            await conn.send(json.dumps({"op": 9, "d": False}))
            return
        self.resumes += 1
        conn.session = session
        last = int(data.get("seq") or 0)
        for frame in session.log:
            if frame["s"] > last:
                await conn.send(json.dumps(frame))
        session.seq += 1
        await conn.send(json.dumps({"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}))

    def _token_ok(self, token: object) -> bool:
        return not self.refuse_token and token == TOKEN

    # -- REST -------------------------------------------------------------------------

    def _authed(
        self, answer: Callable[[web.Request], dict[str, Any]]
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            refused = self._refused(request)
            return refused or _json(answer(request))

        return handler

    def _refused(self, request: web.Request) -> web.Response | None:
        if self._token_ok(request.headers.get("Authorization", "").removeprefix("Bot ")):
            return None
        return _json({"message": "401: Unauthorized", "code": 0}, status=401)

    def _gateway_bot(self, _: web.Request) -> dict[str, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def _post_message(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self._rate_limits:
            return _too_many_requests(self._rate_limits.pop(0))
        channel = request.match_info["channel"]
        body = await request.json()
        self.sent.append(Sent(channel, body))
        await self._notify()
        content = str(body.get("content") or "")
        answer = p.message(self.snowflake(), channel, p.BOT_USER, content, guild=True)
        return _json(answer)

    async def _post_typing(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.typing.append(request.match_info["channel"])
        await self._notify()
        return web.Response(status=204)

    async def _callback(self, request: web.Request) -> web.Response:
        interaction_id = request.match_info["id"]
        self.callbacks.append((interaction_id, await request.json()))
        await self._notify()
        if request.query.get("with_response") in ("1", "true"):
            return _json({"interaction": {"id": interaction_id, "type": 3}})
        return web.Response(status=204)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Discord's exact `Content-Type` (discord.py parses only that, no charset)."""
    all_headers = {"Content-Type": "application/json"} | (headers or {})
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


def _application(_: web.Request) -> dict[str, Any]:
    return p.application()


def _too_many_requests(retry_after: float) -> web.Response:
    """A 429 as Discord sends it: JSON `retry_after` plus the rate-limit headers."""
    headers = {
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": str(retry_after),
        "X-RateLimit-Bucket": "scripted-bucket",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",
    }
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    return _json(body, status=429, headers=headers)
