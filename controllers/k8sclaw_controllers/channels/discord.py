"""The Discord adapter of `k8sclaw-channel discord`: discord.py's gateway client receives,
its REST client sends (replies in the message's channel or thread, approval cards as
buttons), both pointed at `DISCORD_API_URL`/`DISCORD_GATEWAY_URL` when set.

No ingress is needed: the bot dials out to Discord's gateway. Each `run` is one gateway
connection (the runtime owns reconnecting with back-off); the next `run` resumes the same
session, and within a run discord.py answers heartbeats and follows Discord's
RECONNECT/RESUME/INVALID_SESSION requests (`_discord_gateway`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar, Final

import discord
import discord.gateway
import discord.http
import yarl

from k8sclaw_controllers.channels import (
    _discord_errors,
    _discord_format,
    _discord_gateway,
    _discord_inbound,
)
from k8sclaw_controllers.channels._adapter import (
    ChannelConfig,
    Inbound,
    PlatformError,
    UnauthorizedError,
)
from k8sclaw_protocol._chat import Decision, Delivery
from k8sclaw_protocol._instance import ChannelType

if TYPE_CHECKING:
    from discord.types.message import MessageReference

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://discord.com/api/v10"


def _point_rest_at(api_url: str) -> None:
    """discord.py keeps its REST base as a class attribute only (`Route.BASE`), so the
    override is process-wide; one channel pod runs one adapter."""
    discord.http.Route.BASE = api_url.rstrip("/")


def _point_gateway_at(gateway_url: str) -> None:
    """discord.py dials `DiscordWebSocket.DEFAULT_GATEWAY` (class attribute) for a new
    session and Discord's `resume_gateway_url` to resume."""
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class DiscordAdapter:
    """Discord for the channel runtime (`controllers/.../channels/_adapter.py`)."""

    channel: ClassVar[ChannelType] = "discord"
    text_limit: ClassVar[int] = _discord_format.TEXT_LIMIT

    def __init__(self, config: ChannelConfig) -> None:
        self._token = config.env.get("DISCORD_BOT_TOKEN", "").strip()
        self._api_url = config.env.get("DISCORD_API_URL") or DEFAULT_API_URL
        self._gateway_url = config.env.get("DISCORD_GATEWAY_URL") or None
        self._rest: discord.http.HTTPClient | None = None
        self._client: _discord_gateway.GatewayClient | None = None
        self._rest_lock = asyncio.Lock()

    async def run(self, inbound: Inbound) -> None:
        """One gateway connection until cancelled; raises `PlatformError` when it ends.
        The next call resumes the same Discord session (missed events are replayed)."""
        self._require_token()
        _point_rest_at(self._api_url)
        async with _discord_errors.translated():
            client = await self._gateway()
            await client.serve(inbound)

    async def _gateway(self) -> _discord_gateway.GatewayClient:
        """The logged-in gateway client, made once and kept so its session can resume."""
        if self._client is None:
            client = _discord_gateway.GatewayClient()
            try:
                await client.login(self._token)
                _point_gateway_at(self._gateway_url or await _ask_gateway(client))
            except BaseException:
                await client.close()
                raise
            self._client = client
        return self._client

    def render(self, markdown: str) -> list[str]:
        return _discord_format.render(markdown, self.text_limit)

    async def send_text(self, delivery: Delivery, parts: list[str]) -> None:
        """Each part a message in the chat (or thread), the first replying to `reply_to`."""
        target = _snowflake(delivery.thread_id or delivery.chat_id)
        reference = _reference(delivery.reply_to, target)
        async with _discord_errors.translated():
            http = await self._http()
            for index, part in enumerate(parts):
                params = discord.http.handle_message_parameters(
                    content=part,
                    allowed_mentions=discord.AllowedMentions.none(),
                    message_reference=reference if index == 0 else discord.utils.MISSING,
                )
                await http.send_message(target, params=params)

    async def send_typing(self, delivery: Delivery) -> None:
        """Discord's "<bot> is typing…" for about ten seconds."""
        target = _snowflake(delivery.thread_id or delivery.chat_id)
        async with _discord_errors.translated():
            await (await self._http()).send_typing(target)

    async def send_approval(self, delivery: Delivery) -> None:
        """The card as a message with one action row: Approve and Deny buttons."""
        card = delivery.approval
        if card is None:
            raise PlatformError("approval delivery without a card")
        target = _snowflake(delivery.thread_id or delivery.chat_id)
        view = _approval_view(card.approval_id)
        async with _discord_errors.translated():
            params = discord.http.handle_message_parameters(
                content=_discord_format.approval_text(card, self.text_limit),
                view=view,
                allowed_mentions=discord.AllowedMentions.none(),
                message_reference=_reference(delivery.reply_to, target),
            )
            await (await self._http()).send_message(target, params=params)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._rest is not None:
            await self._rest.close()
            self._rest = None

    def _require_token(self) -> None:
        if not self._token:
            raise UnauthorizedError("unauthorized: DISCORD_BOT_TOKEN is empty")

    async def _http(self) -> discord.http.HTTPClient:
        """The REST client for sending, logged in once (the token checked by Discord)."""
        self._require_token()
        async with self._rest_lock:
            if self._rest is None:
                _point_rest_at(self._api_url)
                http = discord.http.HTTPClient(
                    asyncio.get_running_loop(),
                    max_ratelimit_timeout=_discord_gateway.RATE_LIMIT_WAIT,
                )
                try:
                    await http.static_login(self._token)
                except BaseException:
                    await http.close()
                    raise
                self._rest = http
            return self._rest


async def _ask_gateway(client: discord.Client) -> str:
    """The gateway URL from `GET /gateway/bot`, as Discord asks clients to look it up."""
    _shards, url, _limits = await client.http.get_bot_gateway()
    return url


def _is_snowflake(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 20


def _snowflake(value: str) -> int:
    """A Discord id from a delivery; anything else is refused before any request."""
    if not _is_snowflake(value):
        raise PlatformError(f"not a Discord channel or message id: {value[:32]!r}")
    return int(value)


def _reference(reply_to: str | None, channel_id: int) -> MessageReference:
    """A reply to `reply_to` that still posts if that message was deleted; no reply
    (rather than no message) when `reply_to` is not a Discord message id."""
    if reply_to is None or not _is_snowflake(reply_to):
        missing: MessageReference = discord.utils.MISSING
        return missing
    return {
        "message_id": int(reply_to),
        "channel_id": channel_id,
        "fail_if_not_exists": False,
    }


def _approval_view(approval_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    buttons: tuple[tuple[Decision, str, discord.ButtonStyle], ...] = (
        ("approve", "Approve", discord.ButtonStyle.success),
        ("deny", "Deny", discord.ButtonStyle.danger),
    )
    for decision, label, style in buttons:
        try:
            custom_id = _discord_inbound.approval_custom_id(decision, approval_id)
        except ValueError as exc:
            raise PlatformError(str(exc)) from exc
        view.add_item(discord.ui.Button(label=label, style=style, custom_id=custom_id))
    return view
