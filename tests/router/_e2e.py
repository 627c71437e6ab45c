"""The shared end-to-end harness: one chat platform's scripted server behind a small
adapter object, and the whole system around it (real NATS, the controller with the process
kubelet, the router with the approval relay, and the real `k8sclaw-channel` program run in
the test's loop), so one set of tests runs against Telegram, Slack, Discord and WhatsApp.

A `Platform` knows how to build the channel's environment, wait until the channel hears
the platform, make a person (or the bot itself) say something, press a card's button, and
read back what the bot sent (`texts`, `cards`) with where it went (`where`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kubernetes

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.approvals import ApprovalRelay
from k8sclaw_controllers.channels import _slack_format
from k8sclaw_controllers.channels._runtime import ChannelRuntime
from k8sclaw_controllers.channels.discord import DiscordAdapter
from k8sclaw_controllers.channels.telegram import TelegramAdapter
from k8sclaw_controllers.channels.whatsapp import WhatsAppAdapter
from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.router import Router
from k8sclaw_protocol import EventBus
from tests.channels import _channel
from tests.channels._channel import channel_in_process
from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.platforms import _discord_payloads as dp
from tests.harness.platforms.discord import TOKEN as DISCORD_TOKEN
from tests.harness.platforms.discord import ScriptedDiscord
from tests.harness.platforms.slack import ScriptedSlack
from tests.harness.platforms.telegram import BOT_ID as TELEGRAM_BOT_ID
from tests.harness.platforms.telegram import TelegramServer
from tests.harness.platforms.whatsapp import ScriptedWhatsApp
from tests.router._harness import FAST

INSTANCE = "alice"
PLATFORMS = ("telegram", "telegram-webhook", "slack", "slack-events", "discord", "whatsapp")
"""Each platform; Telegram and Slack twice: in their default mode (long polling, Socket
Mode) and in webhook mode (the platform POSTs to the pod, secret or signature checked)."""
WAIT = 120.0


@dataclass(frozen=True)
class Said:
    """One plain text message the bot sent, and the chat (and thread) it went to."""

    text: str
    where: tuple[str, str | None]


@dataclass(frozen=True)
class Card:
    """An approval card the bot posted: the approval id and the platform's own handle."""

    approval_id: str
    where: tuple[str, str | None]
    text: str
    raw: Any


async def until(check: Callable[[], Any], what: str, within: float = WAIT) -> Any:
    """Poll `check` until truthy (the servers live in other threads); bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


class Platform:
    """One platform's scripted server as the tests drive it (see the module docstring)."""

    name: str
    user: str
    """The person's sender id (as the channel publishes it)."""
    where: tuple[str, str | None]
    """Where the conversation happens (chat id, thread id); set by the first `say`."""
    bystander: str | None = None
    """Another person in the same chat (None where chats are one-to-one: WhatsApp)."""
    outsider: str | None = None
    """Where chats are one-to-one: another person, whose press comes from another chat."""
    part_chars: int
    """The most characters the channel puts in one message (the platform's limit; Slack's
    section-block limit, which the Slack channel cuts at, far below its 40,000 hard cap)."""
    mode: str | None = None
    """The channel's `mode` on the instance (None: the platform's default)."""

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def bad_token_env(self) -> dict[str, str]:
        raise NotImplementedError

    async def ready(self, runtime: ChannelRuntime) -> None:
        """Until the channel hears the platform."""

    async def say(self, text: str) -> None:
        """The person writes `text` in the conversation."""
        raise NotImplementedError

    async def say_as_bot(self, text: str) -> None:
        """The bot's own message (an echo of what it posted) arrives as an event."""
        raise NotImplementedError

    def texts(self) -> list[Said]:
        raise NotImplementedError

    def cards(self) -> list[Card]:
        raise NotImplementedError

    async def press(self, card: Card, decision: str, sender: str) -> None:
        raise NotImplementedError

    def presses_answered(self) -> int | None:
        """How many presses the channel answered to the platform (Telegram's
        answerCallbackQuery, Slack's envelope ack, Discord's interaction callback); None
        where the platform has no such answer (WhatsApp)."""
        return None

    async def close(self) -> None:
        raise NotImplementedError


class Telegram(Platform):
    name, user, bystander, chat, topic = "telegram", "4242", "77", -1001234567890, 7
    part_chars = TelegramAdapter.text_limit

    def __init__(self) -> None:
        self.server = TelegramServer()
        self.where = (str(self.chat), str(self.topic))  # a forum topic of a supergroup

    def env(self) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": self.server.token,
            "TELEGRAM_API_URL": self.server.url,
            "TELEGRAM_POLL_TIMEOUT": "2",
        }

    def bad_token_env(self) -> dict[str, str]:
        return {**self.env(), "TELEGRAM_BOT_TOKEN": "123456:WRONG-token"}

    async def say(self, text: str) -> None:
        self.server.message(
            self.chat, text, sender_id=int(self.user), chat_type="supergroup", thread_id=self.topic
        )

    async def say_as_bot(self, text: str) -> None:
        bot = TELEGRAM_BOT_ID
        self.server.message(
            self.chat,
            text,
            sender_id=bot,
            is_bot=True,
            chat_type="supergroup",
            thread_id=self.topic,
        )

    def _sent(self) -> list[dict[str, Any]]:
        return self.server.sent("sendMessage")

    def texts(self) -> list[Said]:
        return [
            Said(str(m["text"]), (str(m["chat_id"]), _str(m.get("message_thread_id"))))
            for m in self._sent()
            if "reply_markup" not in m
        ]

    def cards(self) -> list[Card]:
        found = []
        for m in self._sent():
            if "reply_markup" in m:
                markup = m["reply_markup"]
                markup = json.loads(markup) if isinstance(markup, str) else markup
                data = markup["inline_keyboard"][0][0]["callback_data"]
                where = (str(m["chat_id"]), _str(m.get("message_thread_id")))
                found.append(Card(data.split(":", 1)[1], where, str(m["text"]), m))
        return found

    async def press(self, card: Card, decision: str, sender: str) -> None:
        bot = {"id": TELEGRAM_BOT_ID, "is_bot": True, "first_name": "B"}
        chat = {"id": self.chat, "type": "supergroup"}
        message = {**card.raw, "message_id": 900, "chat": chat, "date": 1, "from": bot}
        message.update(message_thread_id=self.topic, is_topic_message=True)
        self.server.press(message, f"{decision[0]}:{card.approval_id}", sender_id=int(sender))

    def presses_answered(self) -> int:
        return len(self.server.sent("answerCallbackQuery"))

    async def close(self) -> None:
        self.server.close()


class TelegramWebhook(Telegram):
    """Telegram in webhook mode: the channel sets its webhook (a public HTTPS URL with a
    secret token) and Telegram POSTs each update there; the scripted server's route plays
    the Ingress that forwards it to the pod."""

    mode = "webhook"
    public_url = "https://hooks.example.com/telegram"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.server.route(self.public_url, f"http://127.0.0.1:{self.port}/telegram")

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "K8SCLAW_CHANNEL_MODE": "webhook",
            "K8SCLAW_LISTEN_PORT": str(self.port),
            "TELEGRAM_WEBHOOK_URL": self.public_url,
            "TELEGRAM_WEBHOOK_SECRET": "e2e-webhook-secret",
        }

    async def ready(self, runtime: ChannelRuntime) -> None:
        await until(lambda: self.server.sent("setWebhook"), "the channel's setWebhook")


class Slack(Platform):
    name, user, bystander, channel = "slack", "U0PERSON", "U0OTHER", "C0GENERAL"
    part_chars = _slack_format.PART_CHARS

    def __init__(self) -> None:
        self.server = ScriptedSlack()
        self.where = (self.channel, None)
        self.envelopes: list[str] = []

    def env(self) -> dict[str, str]:
        return self.server.env()

    def bad_token_env(self) -> dict[str, str]:
        return {**self.env(), "SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_APP_TOKEN": "xapp-wrong"}

    async def ready(self, runtime: ChannelRuntime) -> None:
        await until(lambda: self.server.connected, "a Socket Mode connection")

    async def say(self, text: str) -> None:
        thread = self.where[1]
        extra = {"thread_ts": thread} if thread else {}
        event = self.server.message(self.channel, text, user=self.user, **extra)
        if thread is None:  # a top-level message starts the thread the bot answers in
            self.where = (self.channel, event["ts"])
        self.server.send_event(event)

    async def say_as_bot(self, text: str) -> None:
        bot = self.server.bot_user_id
        extra = {"thread_ts": self.where[1], "bot_id": self.server.bot_id}
        self.server.send_event(self.server.message(self.channel, text, user=bot, **extra))

    def texts(self) -> list[Said]:
        return [
            Said(p.text, (p.channel, p.thread_ts))
            for p in list(self.server.posts)
            if not any(b.get("type") == "actions" for b in p.blocks)
        ]

    def cards(self) -> list[Card]:
        found = []
        for post in list(self.server.posts):
            for block in post.blocks:
                if block.get("type") == "actions":
                    approval = block["elements"][0]["value"]
                    where = (post.channel, post.thread_ts)
                    found.append(Card(approval, where, json.dumps(post.blocks), post))
        return found

    async def press(self, card: Card, decision: str, sender: str) -> None:
        payload = self.server.button_press(card.raw, decision, user=sender)
        self.envelopes.append(self.server.send_action(payload))

    def presses_answered(self) -> int:
        return len(set(self.envelopes) & set(self.server.acks))

    async def close(self) -> None:
        self.server.close()


class SlackEvents(Slack):
    """Slack in Events API mode: Slack POSTs signed events and button presses to the
    channel pod's endpoint (no Socket Mode connection); replies still go through the Web
    API. A 200 answer is Slack's acknowledgement."""

    mode = "webhook"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.answered = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack"

    def env(self) -> dict[str, str]:
        return {
            **self.server.env(),
            "K8SCLAW_CHANNEL_MODE": "webhook",
            "K8SCLAW_LISTEN_PORT": str(self.port),
        }

    async def ready(self, runtime: ChannelRuntime) -> None:
        await _listening(f"{self.base}/events", "the Slack Events API endpoint")

    async def _post_event(self, event: dict[str, Any]) -> None:
        wrapped = self.server.event_callback(event)
        status, text = await self.server.post_event(f"{self.base}/events", wrapped, _now())
        assert status == 200, text

    async def say(self, text: str) -> None:
        thread = self.where[1]
        extra = {"thread_ts": thread} if thread else {}
        event = self.server.message(self.channel, text, user=self.user, **extra)
        if thread is None:
            self.where = (self.channel, event["ts"])
        await self._post_event(event)

    async def say_as_bot(self, text: str) -> None:
        bot = self.server.bot_user_id
        extra = {"thread_ts": self.where[1], "bot_id": self.server.bot_id}
        await self._post_event(self.server.message(self.channel, text, user=bot, **extra))

    async def press(self, card: Card, decision: str, sender: str) -> None:
        payload = self.server.button_press(card.raw, decision, user=sender)
        status, text = await self.server.post_action(f"{self.base}/actions", payload, _now())
        assert status == 200, text
        self.answered += 1

    def presses_answered(self) -> int:
        return self.answered


def _now() -> int:
    return int(time.time())


async def _listening(url: str, what: str) -> None:
    """Until something answers HTTP at `url` (any status)."""

    async def answers() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=2) as client:
                await client.get(url)
            return True
        return False

    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await answers():
        assert loop.time() < deadline, f"{what} never listened"
        await asyncio.sleep(0.1)


class Discord(Platform):
    name, user, bystander = "discord", dp.USER_ID, "1000000000000000030"
    part_chars = DiscordAdapter.text_limit

    def __init__(self, server: ScriptedDiscord) -> None:
        self.server = server
        self.where = (dp.THREAD_ID, None)  # a thread of a guild channel (posts go to it)

    def env(self) -> dict[str, str]:
        return {
            "DISCORD_BOT_TOKEN": DISCORD_TOKEN,
            "DISCORD_API_URL": self.server.api_url,
            "DISCORD_GATEWAY_URL": self.server.gateway_url,
        }

    def bad_token_env(self) -> dict[str, str]:
        return {**self.env(), "DISCORD_BOT_TOKEN": "wrong-token"}

    async def ready(self, runtime: ChannelRuntime) -> None:
        await until(lambda: self.server.identifies, "a gateway session")

    async def say(self, text: str) -> None:
        await self.server.user_message(text, channel=dp.THREAD_ID)

    async def say_as_bot(self, text: str) -> None:
        await self.server.user_message(text, channel=dp.THREAD_ID, author=dp.BOT_USER)

    def texts(self) -> list[Said]:
        return [
            Said(s.content, (s.channel_id, None))
            for s in list(self.server.sent)
            if not s.body.get("components")
        ]

    def cards(self) -> list[Card]:
        found = []
        for s in list(self.server.sent):
            if s.body.get("components"):
                custom_id = s.body["components"][0]["components"][0]["custom_id"]
                approval = custom_id.split(":", 1)[1]
                found.append(Card(approval, (s.channel_id, None), s.content, s))
        return found

    async def press(self, card: Card, decision: str, sender: str) -> None:
        custom_id = f"{decision}:{card.approval_id}"
        message_id = self.server.snowflake()
        await self.server.press(custom_id, message_id=message_id, channel=dp.THREAD_ID, user=sender)

    def presses_answered(self) -> int:
        return len(self.server.callbacks)

    async def close(self) -> None:
        await self.server.stop()


class WhatsApp(Platform):
    name, user, outsider = "whatsapp", "16315551181", "16315550000"
    part_chars = WhatsAppAdapter.text_limit

    def __init__(self) -> None:
        self.server = ScriptedWhatsApp()
        self.port = free_port()
        self.where = (self.user, None)

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def env(self) -> dict[str, str]:
        return {**self.server.env(), "K8SCLAW_LISTEN_PORT": str(self.port)}

    def bad_token_env(self) -> dict[str, str]:
        return {**self.env(), "WHATSAPP_ACCESS_TOKEN": "EAAG-wrong"}

    async def ready(self, runtime: ChannelRuntime) -> None:
        await _listening(self.webhook, "the WhatsApp webhook")

    async def _post(self, payload: dict[str, Any]) -> None:
        response = await self.server.post(self.webhook, payload)
        assert response.status_code == 200, response.text

    async def say(self, text: str) -> None:
        await self._post(self.server.text_payload(text, wa_id=self.user))

    async def say_as_bot(self, text: str) -> None:
        await self._post(self.server.text_payload(text, wa_id=self.server.own_wa_id))

    def texts(self) -> list[Said]:
        return [
            Said(s.text, (str(s.body.get("to")), None))
            for s in list(self.server.sent)
            if s.kind == "text"
        ]

    def cards(self) -> list[Card]:
        found = []
        for s in list(self.server.sent):
            if s.kind == "interactive":
                button = s.body["interactive"]["action"]["buttons"][0]["reply"]["id"]
                body = str(s.body["interactive"]["body"]["text"])
                found.append(Card(button.split(":", 1)[1], (str(s.body.get("to")), None), body, s))
        return found

    async def press(self, card: Card, decision: str, sender: str) -> None:
        button = f"{decision}:{card.approval_id}"
        await self._post(self.server.button_payload(button, card.raw.message_id, wa_id=sender))

    async def close(self) -> None:
        self.server.close()


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@contextlib.asynccontextmanager
async def platform(name: str) -> AsyncIterator[Platform]:
    """The named platform's scripted server, closed afterwards."""
    made: Platform
    if name == "telegram":
        made = Telegram()
    elif name == "telegram-webhook":
        made = TelegramWebhook()
    elif name == "slack":
        made = Slack()
    elif name == "slack-events":
        made = SlackEvents()
    elif name == "discord":
        server = ScriptedDiscord()
        await server.start()
        made = Discord(server)
    else:
        made = WhatsApp()
    try:
        yield made
    finally:
        await made.close()


def channel_env(nats: NatsServer, kube: KubeEnv, extra: dict[str, str]) -> dict[str, str]:
    """The environment the controller's Deployment gives the channel pod (short back-off)."""
    return _channel.channel_env(nats, namespace=kube.namespace, **extra)


def channel_spec(chat: Platform, approvers: list[str]) -> dict[str, Any]:
    """The instance's channel entry; its Secret is created by `create_channel_secret`."""
    spec: dict[str, Any] = {
        "type": chat.name,
        "configRef": {"secret": f"{chat.name}-creds"},
        "approvers": approvers,
    }
    if chat.mode:
        spec["mode"] = chat.mode
    return spec


def create_channel_secret(kube: KubeEnv, chat: Platform) -> None:
    body = {"metadata": {"name": f"{chat.name}-creds"}, "stringData": chat.env()}
    kubernetes.client.CoreV1Api(kube.api_client).create_namespaced_secret(kube.namespace, body)


def set_approvers(kube: KubeEnv, chat: Platform, approvers: list[str]) -> None:
    patch = {"spec": {"channels": [channel_spec(chat, approvers)]}}
    _harness.custom(kube).patch_namespaced_custom_object(
        _harness.GROUP, _harness.VERSION, kube.namespace, "clawinstances", INSTANCE, patch
    )


def get_instance(kube: KubeEnv) -> dict[str, Any]:
    return dict(
        _harness.custom(kube).get_namespaced_custom_object(
            _harness.GROUP, _harness.VERSION, kube.namespace, "clawinstances", INSTANCE
        )
    )


def list_runs(kube: KubeEnv) -> list[dict[str, Any]]:
    listing = _harness.custom(kube).list_namespaced_custom_object(
        _harness.GROUP, _harness.VERSION, kube.namespace, "agentruns"
    )
    return list(listing["items"])


@contextlib.asynccontextmanager
async def router(nats: NatsServer, kube: KubeEnv, tmp_path: Path) -> AsyncIterator[Router]:
    """The router and the approval relay beside it, wired as `run_router` wires them."""
    bus = await EventBus.connect(
        nats.url, credentials=nats.creds_for("router"), manage_stream=False, backoff=FAST
    )
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    store = await transcripts.open_store(None, tmp_path)
    relay = ApprovalRelay(bus, client)
    routed = Router(bus, client, store, namespace=kube.namespace, on_action=relay.on_action)
    tasks = [asyncio.create_task(routed.run()), asyncio.create_task(relay.run())]
    try:
        await asyncio.wait_for(routed.ready.wait(), 60)
        yield routed
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await store.close()
        await bus.close()
        await client.close()


@contextlib.asynccontextmanager
async def channel(
    nats: NatsServer, kube: KubeEnv, chat: Platform, extra: dict[str, str] | None = None
) -> AsyncIterator[ChannelRuntime]:
    """The real channel program for `chat`, in the test's loop, hearing the platform."""
    env = channel_env(nats, kube, chat.env() if extra is None else extra)
    async with channel_in_process(chat.name, env) as runtime:  # type: ignore[arg-type]
        if extra is None:
            await until(lambda: runtime.state[0] == "Connected", f"{chat.name} Connected")
            await chat.ready(runtime)
        yield runtime
