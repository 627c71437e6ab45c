"""Telegram through python-telegram-bot's `Bot` (Bot API over HTTPS), long polling.

Environment (the channel Secret, reference §7.2): `TELEGRAM_BOT_TOKEN` (from BotFather);
`TELEGRAM_API_URL` overrides the endpoint (default `https://api.telegram.org/bot`; a
self-hosted Bot API server, a proxy, or the test harness). `getUpdates` is long-polled and
its offset advances only after an update was published to the bus, so a crash re-reads
it (and the bus drops the duplicate by message id). With `mode: webhook` the pod calls
`setWebhook` with `TELEGRAM_WEBHOOK_URL` (https://<webhookHost>/…) and the secret token
`TELEGRAM_WEBHOOK_SECRET`, and serves the updates Telegram POSTs (`_telegram_webhook`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import ClassVar, Final
from urllib.parse import urlsplit

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from k8sclaw_controllers.channels._adapter import (
    ChannelConfig,
    Inbound,
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_controllers.channels._clean import clean_id, clean_text
from k8sclaw_controllers.channels._settings import missing
from k8sclaw_controllers.channels._split import split_text
from k8sclaw_controllers.channels._telegram_html import to_html, to_plain
from k8sclaw_controllers.channels._telegram_webhook import WebhookReceiver
from k8sclaw_protocol._chat import ApprovalAction, Delivery, InboundMessage
from k8sclaw_protocol._instance import ChannelType

# Opt in to python-telegram-bot's coming behaviour (durations as timedelta) instead of a
# deprecation warning on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
log = logging.getLogger("k8sclaw.channel.telegram")
DEFAULT_API_URL: Final = "https://api.telegram.org/bot"
POLL_TIMEOUT: Final = 25
"""Seconds one `getUpdates` long poll waits on the server."""
CALLBACK_DATA_BYTES: Final = 64
APPROVE, DENY = "a:", "d:"
MAX_SUMMARY: Final = 3000


def utf16_length(text: str) -> int:
    """Telegram's message limit counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _chat(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def _thread(thread_id: str | None) -> int | None:
    return int(thread_id) if thread_id and thread_id.isdigit() else None


class TelegramAdapter:
    """One bot, one instance."""

    channel: ClassVar[ChannelType] = "telegram"
    text_limit: ClassVar[int] = 4096

    def __init__(self, config: ChannelConfig) -> None:
        token = config.env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise missing("TELEGRAM_BOT_TOKEN", "put the BotFather token in the channel Secret")
        self._webhook = _webhook_settings(config) if config.mode == "webhook" else None
        self._listen = (config.listen_host, config.listen_port)
        self._token = token
        self._requests = (
            HTTPXRequest(connection_pool_size=4, read_timeout=20.0),
            HTTPXRequest(read_timeout=POLL_TIMEOUT + 10.0),
        )
        self._bot = Bot(
            token,
            base_url=config.env.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self._poll_timeout = int(config.env.get("TELEGRAM_POLL_TIMEOUT") or POLL_TIMEOUT)
        self._offset: int | None = None
        self._me: int | None = None

    # Receiving -----------------------------------------------------------------------

    async def run(self, inbound: Inbound) -> None:
        async with self._platform():
            me = await self._bot.get_me()
        self._me = me.id
        if self._webhook is not None:
            await self._serve_webhook(inbound, *self._webhook)
            return
        async with self._platform():
            # A webhook left set (by an earlier webhook-mode pod, say) makes getUpdates 409.
            await self._bot.delete_webhook(drop_pending_updates=False)
        await inbound.health("Connected")
        while True:
            async with self._platform():
                updates = await self._bot.get_updates(
                    offset=self._offset,
                    timeout=self._poll_timeout,
                    allowed_updates=["message", "callback_query"],
                )
            for update in updates:
                await self._handle(update, inbound)
                self._offset = update.update_id + 1

    async def _serve_webhook(self, inbound: Inbound, url: str, secret: str) -> None:
        """Listen, then ask Telegram to POST updates to `url`; serve until cancelled."""

        async def handle(body: dict[str, object]) -> None:
            try:
                update = Update.de_json(body, self._bot)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("dropped a malformed webhook update: %s", type(exc).__name__)
                return
            await self._handle(update, inbound)

        receiver = WebhookReceiver(
            path=urlsplit(url).path, secret=secret, host=self._listen[0], port=self._listen[1],
            handle=handle,
        )  # fmt: skip
        await receiver.start()
        try:
            async with self._platform():
                await self._bot.set_webhook(
                    url, secret_token=secret, allowed_updates=["message", "callback_query"]
                )
            await inbound.health("Connected")
            await asyncio.Event().wait()  # until cancelled
        finally:
            await receiver.close()

    async def _handle(self, update: Update, inbound: Inbound) -> None:
        if update.callback_query is not None:
            await self._pressed(update.callback_query, inbound)
        elif update.message is not None:
            message = self._inbound_of(update.message)
            if message is not None:
                await inbound.received(message)

    def _inbound_of(self, message: Message) -> InboundMessage | None:
        sender = message.from_user
        if sender is None or sender.is_bot or sender.id == self._me:
            return None  # our own echo, another bot, or an anonymous channel post
        if message.text is None:
            log.debug("ignored a non-text message in chat %s", message.chat.id)
            return None
        return InboundMessage(
            channel="telegram",
            message_id=str(message.message_id),
            chat_id=str(message.chat.id),
            thread_id=_topic(message),
            sender_id=str(sender.id),
            sender_name=clean_id(sender.username or sender.full_name) or None,
            text=clean_text(message.text),
        )

    async def _pressed(self, query: CallbackQuery, inbound: Inbound) -> None:
        message, data = query.message, query.data or ""
        if query.from_user.is_bot or not isinstance(message, Message):
            return
        if not data.startswith((APPROVE, DENY)) or len(data) <= len(APPROVE):
            return
        action = ApprovalAction(
            approval_id=data[len(APPROVE) :], decision="approve" if data[0] == "a" else "deny"
        )
        await inbound.received(
            InboundMessage(
                channel="telegram",
                message_id=f"cb-{clean_id(query.id)}",
                chat_id=str(message.chat.id),
                thread_id=_topic(message),
                sender_id=str(query.from_user.id),
                sender_name=clean_id(query.from_user.username or query.from_user.full_name),
                action=action,
            )
        )
        with contextlib.suppress(TelegramError):
            await self._bot.answer_callback_query(query.id, text="Received")

    # Sending -------------------------------------------------------------------------

    def render(self, markdown: str) -> list[str]:
        parts = split_text(markdown, self.text_limit, lambda s: utf16_length(to_html(s)))
        return [to_html(part) for part in parts]

    async def send_text(self, delivery: Delivery, parts: list[str]) -> None:
        reply = _reply(delivery)
        for part in parts:
            async with self._platform():
                try:
                    await self._send(delivery, part, reply, ParseMode.HTML)
                except BadRequest as exc:
                    if "entities" not in str(exc).lower():
                        raise
                    log.warning("Telegram refused the HTML (%s); sent as plain text", exc)
                    await self._send(delivery, to_plain(part), reply, None)
            reply = None

    async def _send(
        self, delivery: Delivery, text: str, reply: ReplyParameters | None, mode: str | None
    ) -> None:
        await self._bot.send_message(
            chat_id=_chat(delivery.chat_id),
            text=text,
            parse_mode=mode,
            message_thread_id=_thread(delivery.thread_id),
            reply_parameters=reply,
        )

    async def send_typing(self, delivery: Delivery) -> None:
        async with self._platform():
            await self._bot.send_chat_action(
                chat_id=_chat(delivery.chat_id),
                action=ChatAction.TYPING,
                message_thread_id=_thread(delivery.thread_id),
            )

    async def send_approval(self, delivery: Delivery) -> None:
        card = delivery.approval
        if card is None:
            raise PlatformError("an approval delivery without a card")
        approve, deny = APPROVE + card.approval_id, DENY + card.approval_id
        if len(approve.encode()) > CALLBACK_DATA_BYTES:
            raise PlatformError(f"approval id {card.approval_id!r} is too long for a button")
        summary = clean_text(card.summary)[:MAX_SUMMARY]  # plain text, shown verbatim
        text = (
            f"<b>Approval needed</b>: run <code>{_escape(clean_id(card.run))}</code> wants to use "
            f"<code>{_escape(clean_id(card.tool))}</code>\n<pre>{_escape(summary)}</pre>"
        )
        buttons = [
            InlineKeyboardButton("Approve", callback_data=approve),
            InlineKeyboardButton("Deny", callback_data=deny),
        ]
        async with self._platform():
            await self._bot.send_message(
                chat_id=_chat(delivery.chat_id),
                text=text,
                parse_mode=ParseMode.HTML,
                message_thread_id=_thread(delivery.thread_id),
                reply_markup=InlineKeyboardMarkup([buttons]),
                reply_parameters=_reply(delivery),
            )

    async def close(self) -> None:
        # The HTTP clients directly: `Bot.shutdown` skips them unless `initialize` ran.
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

    @contextlib.asynccontextmanager
    async def _platform(self) -> AsyncIterator[None]:
        """python-telegram-bot's errors as the adapter contract's (token never shown)."""
        try:
            yield
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise RateLimitedError(self._words(exc), seconds) from None
        except InvalidToken as exc:
            raise UnauthorizedError(self._words(exc)) from None
        except BadRequest:
            raise  # handled by the caller or becomes a permanent PlatformError below
        except NetworkError as exc:
            raise UnavailableError(self._words(exc)) from None
        except TelegramError as exc:
            raise PlatformError(self._words(exc)) from None

    def _words(self, exc: TelegramError) -> str:
        return clean_id(exc.message.replace(self._token, "***"))


def _webhook_settings(config: ChannelConfig) -> tuple[str, str]:
    """(public URL, secret token) for webhook mode, from the channel Secret."""
    url = config.env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    if not url.startswith("https://"):
        raise missing(
            "TELEGRAM_WEBHOOK_URL", "put https://<webhookHost>/telegram in the channel Secret"
        )
    secret = config.env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if not _SECRET_TOKEN.fullmatch(secret):
        raise missing(
            "TELEGRAM_WEBHOOK_SECRET", "put 1-256 characters of A-Z a-z 0-9 _ - in the Secret"
        )
    return url, secret


_SECRET_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _topic(message: Message) -> str | None:
    """Forum topic of a message (the thread a reply goes to), else None."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return None


def _reply(delivery: Delivery) -> ReplyParameters | None:
    if delivery.reply_to and delivery.reply_to.isdigit():
        return ReplyParameters(int(delivery.reply_to), allow_sending_without_reply=True)
    return None
