"""The Slack adapter of `k8sclaw-channel slack` (SPEC §9, docs/channels/slack.md).

Built on slack-sdk: `AsyncWebClient` for the Web API (`SLACK_API_URL` overrides the
endpoint), Socket Mode by default (`SLACK_APP_TOKEN`, no ingress needed) or the signed
Events API with `mode: webhook` (`SLACK_SIGNING_SECRET`, served on `config.listen_port`).
`auth.test` at every start checks the bot token and tells the bot's own ids, so its own and
other bots' posts are never heard. A top-level message's thread is its own `ts`: replies go
into a thread under it, Slack's habit. "Working…" is an ⏳ reaction on the person's message,
removed when the reply is posted (Slack has no typing indicator for bots).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, ClassVar, Final

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from k8sclaw_controllers.channels import _slack_api, _slack_events, _slack_format, _slack_socket
from k8sclaw_controllers.channels._adapter import (
    ChannelConfig,
    Inbound,
    PlatformError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_controllers.channels._slack_webhook import Webhook
from k8sclaw_protocol._chat import ApprovalCard, Delivery, InboundMessage
from k8sclaw_protocol._instance import ChannelType

DEFAULT_API_URL: Final = "https://slack.com/api/"
API_TIMEOUT: Final = 30
TYPING_REACTION: Final = "hourglass_flowing_sand"
REMEMBERED: Final = 2048
"""How many recent message ids (duplicate deliveries) and ⏳ reactions are remembered."""
log = logging.getLogger(__name__)


class SlackAdapter:
    """One Slack app (bot) connected to one ClawInstance."""

    channel: ClassVar[ChannelType] = "slack"
    text_limit: ClassVar[int] = 40_000
    """Slack's hard limit per message; `render` cuts at 3,000 for readability."""

    def __init__(self, config: ChannelConfig) -> None:
        self._config = config
        base_url = config.env.get("SLACK_API_URL") or DEFAULT_API_URL
        self._web = AsyncWebClient(
            token=config.env.get("SLACK_BOT_TOKEN") or None,
            base_url=base_url.rstrip("/") + "/",
            timeout=API_TIMEOUT,
            retry_handlers=[],  # the runtime owns retries and back-off
        )
        self._me: _slack_events.BotIdentity | None = None
        self._in_order = asyncio.Lock()
        self._seen: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._reacted: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._runner: web.AppRunner | None = None
        self.webhook_port: int | None = None
        """The port the Events API endpoint listens on (webhook mode, once running)."""

    # -- receiving -------------------------------------------------------------------------

    async def run(self, inbound: Inbound) -> None:
        mode = self._config.mode or "socket"
        if mode == "poll":
            raise PlatformError("Slack has no polling mode: use mode socket or webhook")
        if not self._config.env.get("SLACK_BOT_TOKEN"):
            raise UnauthorizedError("unauthorized: SLACK_BOT_TOKEN is not set")
        self._me = await self._identify()

        async def handle(kind: _slack_events.Kind, payload: Any) -> None:
            await self._heard(inbound, kind, payload)

        async def connected() -> None:
            await inbound.health("Connected")

        if mode == "webhook":
            await self._serve_webhook(handle, connected)
        else:
            await self._serve_socket(handle, connected)

    async def _identify(self) -> _slack_events.BotIdentity:
        answer = await _slack_api.call(self._web.auth_test())
        user_id, bot_id = answer.get("user_id"), answer.get("bot_id")
        if not isinstance(user_id, str) or not user_id:
            raise UnauthorizedError("unauthorized: auth.test named no bot user")
        return _slack_events.BotIdentity(user_id, bot_id if isinstance(bot_id, str) else None)

    async def _serve_socket(
        self, handle: _slack_events.Handler, connected: _slack_socket.Connected
    ) -> None:
        app_token = self._config.env.get("SLACK_APP_TOKEN", "")
        if not app_token.startswith("xapp-"):
            raise UnauthorizedError(
                "unauthorized: Socket Mode needs SLACK_APP_TOKEN (xapp-…); or use mode webhook"
            )
        await _slack_socket.serve(self._web, app_token, handle, connected)

    async def _serve_webhook(
        self, handle: _slack_events.Handler, connected: _slack_socket.Connected
    ) -> None:
        secret = self._config.env.get("SLACK_SIGNING_SECRET", "")
        if not secret.strip():
            raise UnauthorizedError("unauthorized: webhook mode needs SLACK_SIGNING_SECRET")
        self._runner = web.AppRunner(Webhook(secret, handle).app(), handle_signals=False)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self._config.listen_host, self._config.listen_port)
            try:
                await site.start()
            except OSError as error:
                raise UnavailableError(f"cannot listen on {site.name}: {error}") from error
            self.webhook_port = int(self._runner.addresses[0][1])
            await connected()
            await asyncio.Event().wait()  # Slack calls us; serve until cancelled
        finally:
            await self._close_webhook()

    async def _heard(self, inbound: Inbound, kind: _slack_events.Kind, payload: Any) -> None:
        assert self._me is not None
        if kind == "event":
            message = _slack_events.from_event(payload, self._me)
        else:
            message = _slack_events.from_action(payload)
        if message is None:
            return
        # One at a time, in arrival order: the SDK hands each envelope to its own task, and
        # a redelivery waits here until the first attempt has either succeeded or failed.
        async with self._in_order:
            if not _remember(self._seen, _key(message)):
                return
            try:
                await inbound.received(message)
            except BaseException:
                self._seen.pop(_key(message), None)  # let Slack's redelivery through
                raise

    # -- sending ---------------------------------------------------------------------------

    def render(self, markdown: str) -> list[str]:
        return _slack_format.split_parts(_slack_format.to_mrkdwn(markdown))

    async def send_text(self, delivery: Delivery, parts: list[str]) -> None:
        for part in parts:
            await self._post(delivery, text=part)
        await self._clear_typing(delivery)

    async def send_approval(self, delivery: Delivery) -> None:
        if delivery.approval is None:
            raise PlatformError("approval delivery without an approval card")
        card = delivery.approval
        fallback = f"Approval needed: run {card.run} wants to use {card.tool}"
        await self._post(
            delivery, text=_slack_format.escape(fallback), blocks=approval_blocks(card)
        )

    async def send_typing(self, delivery: Delivery) -> None:
        if not delivery.reply_to:
            return  # nothing to react to; Slack has no typing indicator for bots
        target = (delivery.chat_id, delivery.reply_to)
        try:
            await _slack_api.call(
                self._web.reactions_add(
                    channel=target[0], timestamp=target[1], name=TYPING_REACTION
                )
            )
        except PlatformError as error:
            if str(error) != "already_reacted":
                log.warning("Slack typing reaction not shown: %s", error)
                return
        _remember(self._reacted, target)

    async def _clear_typing(self, delivery: Delivery) -> None:
        target = (delivery.chat_id, delivery.reply_to or "")
        if target not in self._reacted:
            return
        del self._reacted[target]
        try:
            await _slack_api.call(
                self._web.reactions_remove(
                    channel=target[0], timestamp=target[1], name=TYPING_REACTION
                )
            )
        except PlatformError as error:
            log.info("Slack typing reaction not removed: %s", error)

    async def _post(self, delivery: Delivery, **content: Any) -> None:
        await _slack_api.call(
            self._web.chat_postMessage(
                channel=delivery.chat_id,
                thread_ts=delivery.thread_id,
                mrkdwn=True,
                unfurl_links=False,  # a model's links are not previewed (no fetches, no noise)
                unfurl_media=False,
                **content,
            )
        )

    async def close(self) -> None:
        await self._close_webhook()

    async def _close_webhook(self) -> None:
        runner, self._runner = self._runner, None
        self.webhook_port = None
        if runner is not None:
            await runner.cleanup()


def approval_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    """Block Kit card: what is asked (plain text, verbatim, no mentions) and two buttons
    whose `value` is the approval id."""
    title = (
        f"*Approval needed*: run `{_slack_format.escape(card.run)}` wants to use "
        f"`{_slack_format.escape(card.tool)}`"
    )
    summary = _slack_format.strip_controls(card.summary).strip() or "(no details)"
    if len(summary) > _slack_format.PART_CHARS:
        summary = summary[: _slack_format.PART_CHARS - 1] + "…"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": title}},
        {"type": "section", "text": {"type": "plain_text", "text": summary, "emoji": False}},
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [
                _button("approve", "Approve", "primary", card.approval_id),
                _button("deny", "Deny", "danger", card.approval_id),
            ],
        },
    ]


def _button(action_id: str, label: str, style: str, value: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "action_id": action_id, "text": text, "style": style, "value": value}


def _key(message: InboundMessage) -> tuple[str, str]:
    return (message.chat_id, message.message_id)


def _remember(recent: collections.OrderedDict[tuple[str, str], None], key: tuple[str, str]) -> bool:
    """Add `key`; False if it was already there (a duplicate). Keeps the newest entries."""
    if key in recent:
        return False
    recent[key] = None
    while len(recent) > REMEMBERED:
        recent.popitem(last=False)
    return True
