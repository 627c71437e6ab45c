"""A scripted Slack: the Web API, a Socket Mode WebSocket, and signed Events API POSTs.

It speaks Slack's wire protocol as slack-sdk uses it, so the adapter under test runs the real
SDK against it by base URL (`SLACK_API_URL`):
- Web API: `POST /api/<method>`, token in `Authorization: Bearer`, arguments in the query
  string, a form or a JSON body; answers `{"ok": true, ...}` or `{"ok": false, "error": ...}`
  (HTTP 200), and HTTP 429 + `Retry-After` when rate limited. Bot methods want the bot token,
  `apps.connections.open` the app token (`xapp-`), as on Slack.
- Socket Mode: `apps.connections.open` returns `ws://…/link/?ticket=…`; the WebSocket sends
  `hello`, then the `events_api`/`interactive` envelopes a test injects, and records the
  client's acks (`{"envelope_id": …}`); `disconnect` frames on request.
- Events API: `post_event`/`post_action` sign a body with the signing secret
  (`v0=HMAC-SHA256("v0:<ts>:<body>")`, written here by hand, independent of the SDK) and POST
  it to the adapter's webhook, as Slack does.

The server runs in its own thread and event loop so sync and async tests can use it; `down()`
and `up()` stop and restart it on the same port.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.harness.platforms import _aiohttp

T = TypeVar("T")
TEXT_LIMIT = 40_000
SECTION_LIMIT = 3_000
WAIT_TIMEOUT = 5.0


@dataclass
class Post:
    """One `chat.postMessage` the bot made."""

    channel: str
    text: str
    thread_ts: str | None
    ts: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    """A scripted answer for the next call(s) of one method."""

    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class ScriptedSlack:
    """A running scripted Slack workspace with one bot; see the module docstring."""

    def __init__(self) -> None:
        self.bot_token = "xoxb-scripted-bot-token"
        self.app_token = "xapp-1-scripted-app-token"
        self.signing_secret = "scripted-signing-secret"
        self.team_id, self.app_id = "T0SCRIPTED", "A0SCRIPTED"
        self.bot_user_id, self.bot_id = "U0BOTUSER", "B0BOT"
        self.posts: list[Post] = []
        self.reactions: list[tuple[str, str, str, str]] = []
        """(op add|remove, name, channel, timestamp) for each accepted reaction call."""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[str] = []
        self.connections_opened = 0
        self.scopes: set[str] | None = None
        """Bot scopes granted at install (None: all); a method whose scope is missing answers
        `missing_scope`, as Slack does."""
        self._failures: dict[str, list[Failure]] = {}
        self._revoked = False
        self._tickets: set[str] = set()
        self._sockets: list[tuple[web.WebSocketResponse, asyncio.BaseTransport | None]] = []
        self._ts = 0
        self._lock = threading.Lock()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """`SLACK_API_URL` for the adapter (slack-sdk wants the trailing slash)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def env(self) -> dict[str, str]:
        """The channel Secret's keys plus the endpoint override."""
        return {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_APP_TOKEN": self.app_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.api_url,
        }

    def up(self) -> None:
        """Start listening (again, on the same port after `down`)."""
        self._call(self._start())

    def down(self, abrupt: bool = False) -> None:
        """Stop listening, like an outage: WebSockets get a close frame, or with `abrupt`
        their TCP connections are cut without one (a crashed server, a lost network)."""
        self._call(self._stop(abrupt))

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(WAIT_TIMEOUT)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self, abrupt: bool = False) -> None:
        for ws, transport in list(self._sockets):
            if abrupt and transport is not None:
                transport.abort()
            else:
                await ws.close()
        if self._runner is not None:
            await _aiohttp.stop(self._runner)
            self._runner = None

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self, method: str, error: str, status: int = 200, times: int = 1, **headers: str
    ) -> None:
        """Answer the next `times` calls of `method` with `error` (e.g. `ratelimited`, 429,
        `Retry_After="7"`; underscores in header names become dashes)."""
        fixed = {k.replace("_", "-"): v for k, v in headers.items()}
        with self._lock:
            self._failures.setdefault(method, []).append(Failure(error, status, fixed, times))

    def revoke(self, revoked: bool = True) -> None:
        """Every token is refused with `invalid_auth` (a wrong or revoked token)."""
        self._revoked = revoked

    def next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"1700000000.{self._ts:06d}"

    # -- Web API ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            args.update(body if isinstance(body, dict) else {})
        else:
            args.update(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            self.calls.append((method, args))
        answer = self._scripted(method) or self._check_token(method, token)
        answer = answer or self._check_scope(method)
        if answer is None:
            handler = _METHODS.get(method)
            answer = handler(self, args) if handler else {"ok": False, "error": "unknown_method"}
        status, headers, payload = answer if isinstance(answer, tuple) else (200, {}, answer)
        return web.json_response(payload, status=status, headers=headers)

    def _scripted(self, method: str) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        with self._lock:
            queue = self._failures.get(method) or []
            if not queue:
                return None
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
        return failure.status, failure.headers, {"ok": False, "error": failure.error}

    def _check_token(self, method: str, token: str) -> dict[str, Any] | None:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if self._revoked:
            return {"ok": False, "error": "invalid_auth"}
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token == wanted:
            return None
        if token in (self.app_token, self.bot_token):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": False, "error": "invalid_auth"}

    def _check_scope(self, method: str) -> dict[str, Any] | None:
        needed = _SCOPES.get(method)
        if self.scopes is None or needed is None or needed in self.scopes:
            return None
        provided = ",".join(sorted(self.scopes))
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://scripted.slack.com/",
            "team": "Scripted",
            "user": "k8sclaw",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
            self.connections_opened += 1
        url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, text = str(args.get("channel") or ""), str(args.get("text") or "")
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        error = _message_error(channel, text, blocks)
        if error:
            return {"ok": False, "error": error}
        ts = self.next_ts()
        thread = args.get("thread_ts")
        post = Post(channel, text, str(thread) if thread else None, ts, blocks, args)
        with self._lock:
            self.posts.append(post)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}

    def _reaction(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("name")), str(args.get("channel")), str(args.get("timestamp")))
        with self._lock:
            present = {r[1:] for r in self.reactions if r[0] == "add"} - {
                r[1:] for r in self.reactions if r[0] == "remove"
            }
            if op == "add" and key in present:
                return {"ok": False, "error": "already_reacted"}
            if op == "remove" and key not in present:
                return {"ok": False, "error": "no_reaction"}
            self.reactions.append((op, *key))
        return {"ok": True}

    # -- Socket Mode -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        entry = (ws, request.transport)
        self._sockets.append(entry)
        try:
            await ws.send_json(self._hello())
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._record_ack(msg.data)
        finally:
            self._sockets.remove(entry)
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "scripted", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _record_ack(self, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            return
        if isinstance(frame, dict) and isinstance(frame.get("envelope_id"), str):
            with self._lock:
                self.acks.append(frame["envelope_id"])

    def send_frame(self, frame: str | dict[str, Any]) -> None:
        """Send one raw text frame on the newest Socket Mode connection."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self._call(self._send(text))

    async def _send(self, text: str) -> None:
        if not self._sockets:
            raise RuntimeError("scripted Slack: no Socket Mode connection")
        await self._sockets[-1][0].send_str(text)

    def send_event(self, event: dict[str, Any]) -> str:
        """Deliver an Events API event over Socket Mode; returns its envelope id."""
        envelope_id = uuid.uuid4().hex
        payload = self.event_callback(event)
        self.send_frame(_envelope(envelope_id, "events_api", payload))
        return envelope_id

    def send_action(self, payload: dict[str, Any]) -> str:
        """Deliver an interactivity payload (`block_actions`) over Socket Mode."""
        envelope_id = uuid.uuid4().hex
        self.send_frame(_envelope(envelope_id, "interactive", payload))
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        self.send_frame({"type": "disconnect", "reason": reason, "debug_info": {"host": "s"}})

    @property
    def connected(self) -> int:
        return len(self._sockets)

    # -- payload builders ------------------------------------------------------------------

    def event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": 1700000000,
        }

    def message(
        self, channel: str, text: str, user: str = "U0PERSON", **extra: Any
    ) -> dict[str, Any]:
        """A person's `message` event (pass `thread_ts=`, `bot_id=`, `subtype=`… as extra)."""
        ts = self.next_ts()
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts}
        event.update({"event_ts": ts, "channel_type": "channel", "team": self.team_id})
        event.update(extra)
        return event

    def button_press(
        self, card: Post, action_id: str, user: str = "U0PERSON", value: str | None = None
    ) -> dict[str, Any]:
        """The `block_actions` payload Slack sends when `user` presses a button on `card`."""
        button = next(
            e
            for b in card.blocks
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("action_id") == action_id
        )
        message = {"type": "message", "ts": card.ts, "text": card.text}
        if card.thread_ts:
            message["thread_ts"] = card.thread_ts
        return {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "team": {"id": self.team_id, "domain": "scripted"},
            "container": {"type": "message", "message_ts": card.ts, "channel_id": card.channel},
            "channel": {"id": card.channel, "name": "general"},
            "message": message,
            "trigger_id": uuid.uuid4().hex,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "approval",
                    "value": value if value is not None else button.get("value"),
                    "action_ts": self.next_ts(),
                }
            ],
        }

    # -- Events API (webhook mode) ---------------------------------------------------------

    def signed_headers(
        self, body: bytes, timestamp: int, secret: str | None = None
    ) -> dict[str, str]:
        """Slack's request signature for `body` at `timestamp` (seconds since the epoch)."""
        key = (secret if secret is not None else self.signing_secret).encode()
        base = b"v0:" + str(timestamp).encode() + b":" + body
        signature = "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}

    async def post_event(
        self, url: str, payload: dict[str, Any], timestamp: int, secret: str | None = None
    ) -> tuple[int, str]:
        """POST an Events API body (`event_callback`, `url_verification`) signed, as Slack."""
        body = json.dumps(payload).encode()
        return await self._post(url, body, "application/json", timestamp, secret)

    async def post_action(
        self, url: str, payload: dict[str, Any], timestamp: int, secret: str | None = None
    ) -> tuple[int, str]:
        """POST an interactivity payload (form field `payload`), signed, as Slack."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._post(url, body, "application/x-www-form-urlencoded", timestamp, secret)

    async def _post(
        self, url: str, body: bytes, content_type: str, timestamp: int, secret: str | None
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type, **self.signed_headers(body, timestamp, secret)}
        timeout = aiohttp.ClientTimeout(total=WAIT_TIMEOUT)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            return response.status, await response.text()

    # -- waiting ---------------------------------------------------------------------------

    async def until(self, predicate: Callable[[], bool], what: str, tries: int = 500) -> None:
        """Until `predicate()` holds: polled, as the server lives in another thread
        (bounded: `tries` x 10 ms), else AssertionError naming `what`."""
        for _ in range(tries):
            if predicate():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"scripted Slack: timed out waiting for {what}")


def _envelope(envelope_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": kind,
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }


def _message_error(channel: str, text: str, blocks: list[dict[str, Any]]) -> str | None:
    if not channel:
        return "channel_not_found"
    if not text and not blocks:
        return "no_text"
    if len(text) > TEXT_LIMIT:
        return "msg_too_long"
    for block in blocks:
        section = block.get("text") or {}
        if len(str(section.get("text", ""))) > SECTION_LIMIT:
            return "invalid_blocks"
        if block.get("type") == "actions" and not block.get("elements"):
            return "invalid_blocks"
    return None


_SCOPES = {
    "chat.postMessage": "chat:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
}
"""Bot scope each method needs (auth.test needs none; apps.connections.open takes the app
token's `connections:write`)."""

_METHODS: dict[str, Callable[[ScriptedSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": ScriptedSlack._auth_test,
    "apps.connections.open": ScriptedSlack._connections_open,
    "chat.postMessage": ScriptedSlack._post_message,
    "reactions.add": lambda slack, args: slack._reaction("add", args),
    "reactions.remove": lambda slack, args: slack._reaction("remove", args),
}
