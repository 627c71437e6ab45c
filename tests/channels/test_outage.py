"""Every platform down for 30 s at once, each with its real `k8sclaw-channel` runtime on
one NATS: people type while the platform is away and the router publishes replies meanwhile;
afterwards every message reached the bus exactly once, every reply was sent exactly once,
and each channel's health went Disconnected and back to Connected."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from k8sclaw_protocol._bus import EventBus, Subscription
from k8sclaw_protocol._chat import HealthReport, InboundMessage
from tests.channels._channel import (
    channel_env,
    channel_in_process,
    deliver,
    health,
    received,
    router_bus,
)
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.platforms import _discord_payloads
from tests.harness.platforms.discord import TOKEN, ScriptedDiscord
from tests.harness.platforms.slack import ScriptedSlack
from tests.harness.platforms.telegram import TelegramServer
from tests.harness.platforms.whatsapp import ScriptedWhatsApp

pytestmark = pytest.mark.slow
OUTAGE = 30.0
"""Seconds every platform stays down (real time: back-off and reconnects run as in a pod)."""
WAIT = 60.0


@dataclass
class Platform:
    """One scripted platform as this test drives it."""

    kind: str
    chat: str
    env: dict[str, str]
    down: Callable[[], Awaitable[None]]
    up: Callable[[], Awaitable[None]]
    type: Callable[[str], Coroutine[Any, Any, object]]
    """A person writes `text`; returns once the platform has it (it hands it to the bot
    when the bot is back, as each platform does)."""
    sent: Callable[[], list[str]]
    """Texts the bot posted, in order."""


@dataclass
class Seen:
    """Everything the channels published, per channel."""

    states: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)

    async def follow(self, reports: Subscription, inbox: Subscription) -> None:
        async def states() -> None:
            while True:
                report = HealthReport.model_validate((await reports.next()).data)
                self.states.setdefault(report.channel, []).append(report.state)

        async def texts() -> None:
            while True:
                message = InboundMessage.model_validate((await inbox.next()).data)
                self.texts.setdefault(message.channel, []).append(message.text)

        await asyncio.gather(states(), texts())


async def until(
    check: Callable[[], bool], what: str, within: float = WAIT, seen: object = None
) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 (the collectors run in other tasks)
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}; seen {seen}") from None


def _telegram(server: TelegramServer) -> Platform:
    chat = -100200300
    return Platform(
        "telegram",
        str(chat),
        {
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.url,
            "TELEGRAM_POLL_TIMEOUT": "2",
        },
        down=lambda: asyncio.to_thread(server.down),
        up=lambda: asyncio.to_thread(server.up),
        type=lambda text: _now(server.message(chat, text)),  # queued for getUpdates
        sent=lambda: [m["text"] for m in server.sent()],
    )


def _slack(server: ScriptedSlack) -> Platform:
    chat = "C0GENERAL"

    async def type_(text: str) -> None:
        event = server.message(chat, text)
        # Slack holds an event for an app whose socket is gone and sends it on reconnect.
        await until(lambda: server.connected > 0, "a Socket Mode connection")
        await asyncio.to_thread(server.send_event, event)

    return Platform(
        "slack",
        chat,
        server.env(),
        down=lambda: asyncio.to_thread(server.down),
        up=lambda: asyncio.to_thread(server.up),
        type=type_,
        sent=lambda: [p.text for p in server.posts],
    )


def _discord(server: ScriptedDiscord) -> Platform:
    return Platform(
        "discord",
        _discord_payloads.CHANNEL_ID,
        {
            "DISCORD_BOT_TOKEN": TOKEN,
            "DISCORD_API_URL": server.api_url,
            "DISCORD_GATEWAY_URL": server.gateway_url,
        },
        down=server.stop,
        up=server.start,
        type=server.user_message,  # replayed on RESUME
        sent=lambda: [s.content for s in server.sent],
    )


def _whatsapp(server: ScriptedWhatsApp) -> Platform:
    port = free_port()
    chat = "16315551181"

    async def type_(text: str) -> None:
        # Meta POSTs to the pod's webhook (not the Graph API that is down) until accepted.
        payload = server.text_payload(text, wa_id=chat)
        url = f"http://127.0.0.1:{port}/webhook"

        async def accepted() -> None:
            while True:
                with contextlib.suppress(OSError):
                    if (await server.post(url, payload)).status_code == 200:
                        return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(accepted(), WAIT)

    return Platform(
        "whatsapp",
        chat,
        {**server.env(), "K8SCLAW_LISTEN_PORT": str(port)},
        down=lambda: asyncio.to_thread(server.down),
        up=lambda: asyncio.to_thread(server.up),
        type=type_,
        sent=lambda: [s.text for s in server.sent if s.kind == "text"],
    )


async def _now(_: object) -> None:
    return None


@contextlib.asynccontextmanager
async def channels(nats: NatsServer, platforms: list[Platform]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for platform in platforms:
            env = channel_env(nats, **platform.env)
            await stack.enter_async_context(channel_in_process(platform.kind, env))
        yield


async def test_every_platform_down_30s_loses_and_duplicates_nothing(
    nats: NatsServer,
    telegram_api: TelegramServer,
    slack: ScriptedSlack,
    discord_server: ScriptedDiscord,
    whatsapp: ScriptedWhatsApp,
) -> None:
    platforms = [
        _telegram(telegram_api),
        _slack(slack),
        _discord(discord_server),
        _whatsapp(whatsapp),
    ]
    kinds = [p.kind for p in platforms]
    seen = Seen()
    async with (
        router_bus(nats) as bus,
        health(bus) as reports,
        received(bus) as inbox,
        channels(nats, platforms),
    ):
        follower = asyncio.create_task(seen.follow(reports, inbox))
        try:
            await until(
                lambda: all(_last(seen, k) == "Connected" for k in kinds), "Connected", seen=seen
            )
            await asyncio.gather(*(p.down() for p in platforms))
            marks = {k: len(seen.states[k]) for k in kinds}
            went_down = asyncio.get_running_loop().time()
            for p in platforms:
                await _say(bus, p, "o1", "sent during the outage")
            typing = [asyncio.create_task(p.type("typed during the outage")) for p in platforms]
            await until(
                lambda: all(_last(seen, k) == "Disconnected" for k in kinds),
                "Disconnected",
                seen=seen,
            )
            await asyncio.sleep(OUTAGE - (asyncio.get_running_loop().time() - went_down))
            assert all(p.sent() == [] for p in platforms)  # nothing got through meanwhile
            await asyncio.gather(*(p.up() for p in platforms))
            await until(
                lambda: all(_last(seen, k) == "Connected" for k in kinds), "reconnects", seen=seen
            )
            await asyncio.wait_for(asyncio.gather(*typing), WAIT)
            for p in platforms:
                await p.type("typed after")
                await _say(bus, p, "o2", "after")
            await until(lambda: all(len(seen.texts.get(k, [])) >= 2 for k in kinds), "the messages")
            await until(lambda: all(p.sent()[-1:] == ["after"] for p in platforms), "replies")
            await asyncio.sleep(1)  # room for a late duplicate to show
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    for p in platforms:
        assert sorted(seen.texts[p.kind]) == ["typed after", "typed during the outage"], p.kind
        assert p.sent() == ["sent during the outage", "after"], p.kind
        since_down = seen.states[p.kind][marks[p.kind] :]
        assert "Disconnected" in since_down and since_down[-1] == "Connected", p.kind


def _last(seen: Seen, kind: str) -> str | None:
    states = seen.states.get(kind)
    return states[-1] if states else None


async def _say(bus: EventBus, platform: Platform, delivery_id: str, text: str) -> None:
    """The router's reply to `platform`'s chat."""
    delivery = {"id": delivery_id, "channel": platform.kind, "chatId": platform.chat}
    await deliver(bus, {**delivery, "text": text})
