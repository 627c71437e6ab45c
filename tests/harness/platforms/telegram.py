"""A scripted Telegram Bot API server: real HTTP on 127.0.0.1, real JSON shapes.

`/bot<token>/<method>` for getMe, setWebhook, deleteWebhook, getUpdates (long poll:
`offset` confirms earlier updates, `timeout` seconds of waiting), sendMessage,
sendChatAction, answerCallbackQuery and editMessageReplyMarkup; parameters as form
fields (what python-telegram-bot sends) or JSON. Answers `{"ok":true,"result":...}`,
or `{"ok":false,"error_code":...}` with `parameters.retry_after` for 429.

Test API (thread-safe; the server runs its own loop in a thread, so a test can also
drive a subprocess): `message()`/`press()` inject what a user does, `sent` lists what
the bot posted, `unauthorized`, `rate_limit(n, retry_after)`, `down()`/`up()` (the port
refuses connections meanwhile, like an outage).

Webhook mode as Telegram does it: after `setWebhook` (an `https://` URL, optional
`secret_token`) updates are POSTed to that URL one at a time, in order, with the secret in
`X-Telegram-Bot-Api-Secret-Token`, and retried until answered 2xx; `getUpdates` is then a
409 Conflict until `deleteWebhook`. `route(public_url, local_url)` plays the Ingress:
deliveries for the public URL go to the pod's local address.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.harness.platforms import _aiohttp

Body = dict[str, Any]
BOT_ID = 7000001
BOT_USERNAME = "k8sclaw_test_bot"
_JSON_PARAMS = {"reply_markup", "reply_parameters", "allowed_updates", "link_preview_options"}


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: Body
    at: float = field(default_factory=time.monotonic)


class TelegramServer:
    """One bot's view of Telegram."""

    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.unauthorized = False
        self._rate_limited: list[float] = []
        self._updates: list[Body] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._webhook: tuple[str, str] | None = None  # (url, secret_token) once set
        self._routes: dict[str, str] = {}
        self._deliverer: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = 0
        self._call(self._start())

    @property
    def url(self) -> str:
        """What `TELEGRAM_API_URL` is set to (the token is appended by the client)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # Test API ------------------------------------------------------------------------

    def message(
        self,
        chat_id: int,
        text: str | None,
        *,
        sender_id: int = 4242,
        is_bot: bool = False,
        thread_id: int | None = None,
        chat_type: str = "private",
        message_id: int | None = None,
    ) -> Body:
        """A user's message arrives (an update); returns the message object."""
        message: Body = {
            "message_id": message_id or next(self._message_ids),
            "from": _user(sender_id, is_bot),
            "chat": {"id": chat_id, "type": chat_type},
            "date": int(time.time()),
        }
        if text is not None:
            message["text"] = text
        else:
            message["sticker"] = {"file_id": "x", "file_unique_id": "x", "type": "regular",
                                  "width": 1, "height": 1, "is_animated": False,
                                  "is_video": False}  # fmt: skip
        if thread_id is not None:
            message.update(message_thread_id=thread_id, is_topic_message=True)
        self._push({"message": message})
        return message

    def press(self, card: Body, data: str, *, sender_id: int = 4242) -> str:
        """A user presses an inline button of `card` (a message the bot sent)."""
        query_id = f"cbq{next(self._ids)}"
        query = {
            "id": query_id,
            "from": _user(sender_id, False),
            "message": card,
            "chat_instance": "ci-1",
            "data": data,
        }
        self._push({"callback_query": query})
        return query_id

    def route(self, public_url: str, local_url: str) -> None:
        """Deliver webhook updates for `public_url` to `local_url` (the Ingress's part)."""
        with self._lock:
            self._routes[public_url] = local_url

    def rate_limit(self, times: int, retry_after: float = 1) -> None:
        """The next `times` sends are answered 429 with `retry_after`."""
        with self._lock:
            self._rate_limited.extend([retry_after] * times)

    def sent(self, method: str = "sendMessage") -> list[Body]:
        """Parameters of every successful `method` call, in order."""
        with self._lock:
            return [c.params for c in self.calls if c.method == method]

    def down(self) -> None:
        """The API stops answering: the port refuses connections."""
        self._call(self._stop())

    def up(self) -> None:
        """The API answers again on the same port."""
        self._call(self._start())

    def close(self) -> None:
        self._call(self._stop())
        self._call(self._stop_delivering())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def wait_sent(
        self, count: int, method: str = "sendMessage", within: float = 15
    ) -> list[Body]:
        """At least `count` successful `method` calls (TimeoutError after `within` s)."""
        return await self.wait(lambda: len(self.sent(method)) >= count, within, method)

    async def wait(
        self, predicate: Callable[[], bool], within: float = 15, method: str = "sendMessage"
    ) -> list[Body]:
        async def poll() -> None:
            while not predicate():  # noqa: ASYNC110 (state changes in the server thread)
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), within)
        return self.sent(method)

    # Server --------------------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    def _push(self, update: Body) -> None:
        def add() -> None:
            with self._lock:
                self._updates.append({"update_id": next(self._ids), **update})
            self._changed.set()

        self._loop.call_soon_threadsafe(add)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        runner, self._runner = self._runner, None
        self._changed.set()  # long polls in flight end now
        if runner is not None:
            await _aiohttp.stop(runner)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token or self.unauthorized:
            return _error(401, "Unauthorized")
        params = await _params(request)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        if method.startswith("send") or method == "editMessageReplyMarkup":
            with self._lock:
                wait = self._rate_limited.pop(0) if self._rate_limited else None
            if wait is not None:
                return _error(429, f"Too Many Requests: retry after {wait:g}", retry_after=wait)
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        with self._lock:
            self.calls.append(Call(method, params))
        return web.json_response({"ok": True, "result": result})

    async def _api_getMe(self, _: Body) -> Body:
        return {**_user(BOT_ID, True), "can_join_groups": True, "supports_inline_queries": False}

    async def _api_getUpdates(self, params: Body) -> list[Body] | web.Response:
        if self._webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset, timeout = int(params.get("offset") or 0), float(params.get("timeout") or 0)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with self._lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates)
            left = deadline - asyncio.get_running_loop().time()
            if ready or left <= 0 or self._runner is None:
                return ready
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return []

    async def _api_sendMessage(self, params: Body) -> Body | web.Response:
        if not str(params.get("text") or "").strip():
            return _error(400, "Bad Request: message text is empty")
        if len(str(params["text"]).encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        message: Body = {
            "message_id": next(self._message_ids),
            "from": _user(BOT_ID, True),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "date": int(time.time()),
            "text": params["text"],
        }
        if params.get("message_thread_id"):
            message.update(message_thread_id=int(params["message_thread_id"]))
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_deleteWebhook(self, _: Body) -> bool:
        self._webhook = None
        await self._stop_delivering()
        return True

    async def _api_setWebhook(self, params: Body) -> bool | web.Response:
        url = str(params.get("url", ""))
        if not url.startswith("https://"):
            return _error(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self._webhook = (url, str(params.get("secret_token") or ""))
        if self._deliverer is None or self._deliverer.done():
            self._deliverer = asyncio.create_task(self._deliver())
        self._changed.set()
        return True

    async def _stop_delivering(self) -> None:
        task, self._deliverer = self._deliverer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self) -> None:
        """POST pending updates to the webhook in order, each until answered 2xx."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while self._webhook is not None:
                with self._lock:
                    update = self._updates[0] if self._updates else None
                if update is None:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                if await self._post_update(session, update):
                    with self._lock:
                        self._updates = [u for u in self._updates if u is not update]
                else:
                    await asyncio.sleep(0.2)  # Telegram retries an unanswered update

    async def _post_update(self, session: aiohttp.ClientSession, update: Body) -> bool:
        assert self._webhook is not None
        url, secret = self._webhook
        with self._lock:
            target = self._routes.get(url, url)
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        try:
            async with session.post(target, json=update, headers=headers) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _api_sendChatAction(self, _: Body) -> bool:
        return True

    async def _api_answerCallbackQuery(self, _: Body) -> bool:
        return True

    async def _api_editMessageReplyMarkup(self, _: Body) -> bool:
        return True


def _user(user_id: int, is_bot: bool) -> Body:
    name = BOT_USERNAME if user_id == BOT_ID else f"user{user_id}"
    return {"id": user_id, "is_bot": is_bot, "first_name": name.title(), "username": name}


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: Body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def _params(request: web.Request) -> Body:
    if request.content_type == "application/json":
        raw: Body = await request.json()
        return raw
    form = await request.post()
    params: Body = {}
    for key, value in form.items():
        text = str(value)
        params[key] = json.loads(text) if key in _JSON_PARAMS else text
    return params
