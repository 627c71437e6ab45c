"""WhatsApp (Cloud API) adapter for `k8sclaw-channel whatsapp`: always webhook mode.

`run` checks the token against Graph, serves Meta's webhook (`_whatsapp_webhook`) with
uvicorn on the configured address, hands queued messages to the runtime and re-checks the
token every `probe_interval` seconds, so a revoked token or an unreachable Graph shows in
health instead of silently dropping replies. Sends go through `_whatsapp_graph`.

Environment (the channel Secret, reference §7.2, plus the endpoint override):
`WHATSAPP_ACCESS_TOKEN`, `WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_APP_SECRET` (required),
`WHATSAPP_VERIFY_TOKEN` (for the subscription handshake), `WHATSAPP_API_URL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import uvicorn

from k8sclaw_controllers.channels import _adapter, _whatsapp_format, _whatsapp_graph
from k8sclaw_controllers.channels._whatsapp_webhook import Webhook
from k8sclaw_protocol._chat import Delivery
from k8sclaw_protocol._instance import ChannelType

log = logging.getLogger("k8sclaw.channel.whatsapp")

PROBE_INTERVAL: Final = 300.0
START_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 5.0
CARD_TEXT_LIMIT: Final = 1024
"""Characters in an interactive message body."""
BUTTON_ID_LIMIT: Final = 256


class ConfigurationError(ValueError):
    """The channel Secret lacks what WhatsApp needs; the program refuses to start."""


@dataclass(frozen=True)
class Settings:
    """The adapter's part of the pod environment."""

    api_url: str
    token: str
    phone_number_id: str
    app_secret: str
    verify_token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        required = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET")
        if missing := [name for name in required if not env.get(name, "").strip()]:
            raise ConfigurationError(
                f"whatsapp: {', '.join(missing)} not set in the channel Secret; the webhook "
                "cannot verify Meta's signatures or send without them (docs/channels/whatsapp.md)"
            )
        return cls(
            api_url=env.get("WHATSAPP_API_URL", "").strip() or _whatsapp_graph.DEFAULT_API_URL,
            token=env["WHATSAPP_ACCESS_TOKEN"].strip(),
            phone_number_id=env["WHATSAPP_PHONE_NUMBER_ID"].strip(),
            app_secret=env["WHATSAPP_APP_SECRET"].strip(),
            verify_token=env.get("WHATSAPP_VERIFY_TOKEN", "").strip(),
        )


class WhatsAppAdapter:
    """One WhatsApp business phone number, reached through Meta's Cloud API."""

    channel: ClassVar[ChannelType] = "whatsapp"
    text_limit: ClassVar[int] = _whatsapp_format.TEXT_LIMIT

    def __init__(
        self, config: _adapter.ChannelConfig, *, probe_interval: float = PROBE_INTERVAL
    ) -> None:
        if config.mode not in (None, "webhook"):
            raise ConfigurationError(f"whatsapp: mode {config.mode!r} unsupported; only webhook")
        settings = Settings.from_env(config.env)
        self._graph = _whatsapp_graph.Graph(
            settings.api_url, settings.token, settings.phone_number_id
        )
        self._webhook = Webhook(
            settings.app_secret, settings.verify_token, settings.phone_number_id
        )
        self._address = (config.listen_host, config.listen_port)
        self._probe_interval = probe_interval
        self.listen_port: int | None = None
        """The port the webhook is served on while `run` is live (useful with port 0)."""

    async def run(self, inbound: _adapter.Inbound) -> None:
        profile = await self._graph.check_token()
        self._webhook.own_number = _digits(profile.get("display_phone_number"))
        async with self._serving() as server:
            await inbound.health("Connected")
            pump = asyncio.create_task(self._pump(inbound), name="whatsapp-inbound")
            try:
                await self._watch(server)
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    def render(self, markdown: str) -> list[str]:
        text = _whatsapp_format.to_whatsapp(_whatsapp_format.clean(markdown))
        return _whatsapp_format.split(text, self.text_limit)

    async def send_text(self, delivery: Delivery, parts: list[str]) -> None:
        for index, part in enumerate(parts):
            payload: dict[str, Any] = {
                "recipient_type": "individual",
                "to": delivery.chat_id,
                "type": "text",
                "text": {"body": part, "preview_url": False},
            }
            if index == 0 and delivery.reply_to:
                payload["context"] = {"message_id": delivery.reply_to}
            await self._graph.send(payload)

    async def send_typing(self, delivery: Delivery) -> None:
        """Mark the person's message read with the typing indicator (needs its id)."""
        if not delivery.reply_to:
            return
        payload = {
            "status": "read",
            "message_id": delivery.reply_to,
            "typing_indicator": {"type": "text"},
        }
        try:
            await self._graph.send(payload)
        except _adapter.PlatformError as exc:
            log.info("whatsapp typing indicator not shown: %s", exc)

    async def send_approval(self, delivery: Delivery) -> None:
        card = delivery.approval
        if card is None:
            raise _adapter.PlatformError("approval delivery without a card")
        buttons = [_button(f"approve:{card.approval_id}", "Approve")]
        buttons.append(_button(f"deny:{card.approval_id}", "Deny"))
        text = f"Approval needed\nRun: {card.run}\nTool: {card.tool}\n\n{card.summary}"
        payload: dict[str, Any] = {
            "recipient_type": "individual",
            "to": delivery.chat_id,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": _card_text(text)},
                "action": {"buttons": buttons},
            },
        }
        if delivery.reply_to:
            payload["context"] = {"message_id": delivery.reply_to}
        await self._graph.send(payload)

    async def close(self) -> None:
        await self._graph.aclose()

    async def _pump(self, inbound: _adapter.Inbound) -> None:
        """Hand queued messages over one at a time, in the order Meta sent them."""
        while True:
            message = await self._webhook.queue.get()
            try:
                await inbound.received(message)
            except Exception:
                log.exception("whatsapp: the runtime refused message %s", message.message_id)

    async def _watch(self, server: asyncio.Task[None]) -> None:
        """Until cancelled: fail if the webhook server stops or the token stops working."""
        while True:
            done, _ = await asyncio.wait({server}, timeout=self._probe_interval)
            if done:
                raise _adapter.UnavailableError("whatsapp webhook server stopped")
            await self._graph.check_token()

    @contextlib.asynccontextmanager
    async def _serving(self) -> AsyncIterator[asyncio.Task[None]]:
        """Serve the webhook app on our own socket (so a bind error is an exception here,
        not uvicorn's `sys.exit`), and stop it however the block ends."""
        sock = _bind(*self._address)
        server = _QuietServer(
            uvicorn.Config(
                self._webhook.app(),
                lifespan="off",
                log_config=None,  # the runtime owns logging; uvicorn's dictConfig would not
                log_level="warning",
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=int(STOP_TIMEOUT),
            )
        )
        task = asyncio.create_task(server.serve(sockets=[sock]), name="whatsapp-webhook")
        try:
            await _started(server, task)
            self.listen_port = sock.getsockname()[1]
            yield task
        finally:
            self.listen_port = None
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, STOP_TIMEOUT)
            sock.close()


class _QuietServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM capture: signals belong to the channel runtime."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise _adapter.UnavailableError(f"cannot listen on {host}:{port}: {exc}") from exc


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(START_TIMEOUT):
        while not server.started:
            if task.done():
                raise _adapter.UnavailableError("whatsapp webhook server did not start")
            await asyncio.sleep(0.01)


def _button(button_id: str, title: str) -> dict[str, Any]:
    if len(button_id) > BUTTON_ID_LIMIT:
        raise _adapter.PlatformError("approval id too long for a WhatsApp button id")
    return {"type": "reply", "reply": {"id": button_id, "title": title}}


def _card_text(text: str) -> str:
    text = _whatsapp_format.clean(text)
    return text if len(text) <= CARD_TEXT_LIMIT else text[: CARD_TEXT_LIMIT - 1] + "…"


def _digits(number: Any) -> str:
    return "".join(ch for ch in number if ch.isdigit()) if isinstance(number, str) else ""
