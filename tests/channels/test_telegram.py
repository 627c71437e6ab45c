"""`k8sclaw-channel telegram` against real NATS (shipped channel credentials) and the
scripted Telegram Bot API server: the first test runs the real program as a process, the
rest run it in the test's loop (same settings and code path, no interpreter start-up)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import nats as nats_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8sclaw_controllers.channels._telegram_html import to_html, to_plain
from k8sclaw_protocol import busauth, events
from k8sclaw_protocol._chat import HealthReport, InboundMessage
from tests.channels._channel import (
    INSTANCE,
    NAMESPACE,
    channel_env,
    channel_in_process,
    channel_process,
    deliver,
    health,
    received,
    router_bus,
    wait_event,
)
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.platforms.telegram import BOT_ID, TelegramServer

CHAT = -100200300


def _env(nats: NatsServer, telegram_api: TelegramServer, **extra: str) -> dict[str, str]:
    return channel_env(
        nats,
        TELEGRAM_BOT_TOKEN=telegram_api.token,
        TELEGRAM_API_URL=telegram_api.url,
        TELEGRAM_POLL_TIMEOUT="2",
        **extra,
    )


def _report(event: events.Event) -> HealthReport:
    return HealthReport.model_validate(event.data)


async def _healthz(env: dict[str, str]) -> httpx.Response:
    url = f"http://127.0.0.1:{env['K8SCLAW_HEALTH_PORT']}/healthz"
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(200):
            try:
                return await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("/healthz never answered")


async def test_a_message_is_published_once_and_replies_land_split_in_the_same_thread(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    env = _env(nats, telegram_api)
    async with (
        router_bus(nats) as bus,
        received(bus) as inbox,
        health(bus) as reports,
        channel_process("telegram", env),
    ):
        await wait_event(reports, lambda e: _report(e).state == "Connected")
        assert (await _healthz(env)).status_code == 200
        sent = telegram_api.message(CHAT, "hello <bot>", thread_id=7, chat_type="supergroup")
        # The same platform message seen twice (a re-read update) is stored once.
        telegram_api.message(CHAT, "hello <bot>", thread_id=7, message_id=sent["message_id"])
        telegram_api.message(CHAT, "sentinel", thread_id=7)
        seen = await _until_received(inbox, "sentinel")
        assert [InboundMessage.model_validate(e.data).text for e in seen] == [
            "hello <bot>",
            "sentinel",
        ]
        event = seen[0]
        assert event.subject == f"k8sclaw.channel.message.received.{NAMESPACE}.{INSTANCE}"
        message = InboundMessage.model_validate(event.data)
        assert (message.channel, message.chat_id, message.thread_id) == (
            "telegram",
            str(CHAT),
            "7",
        )
        assert (message.sender_id, message.text) == ("4242", "hello <bot>")
        assert message.message_id == str(sent["message_id"])

        reply = {"id": "d1", "channel": "telegram", "chatId": str(CHAT), "threadId": "7"}
        await deliver(bus, {**reply, "replyTo": message.message_id, "text": "**done** <ok>"})
        first = (await telegram_api.wait_sent(1))[0]
        assert first["chat_id"] == str(CHAT) and first["message_thread_id"] == "7"
        assert first["text"] == "<b>done</b> &lt;ok&gt;" and first["parse_mode"] == "HTML"
        assert first["reply_parameters"]["message_id"] == sent["message_id"]

        long_text = "\n\n".join(f"paragraph {i} " + "word " * 190 for i in range(11))
        assert len(long_text) > 10_000
        await deliver(bus, {**reply, "id": "d2", "text": long_text})
        await deliver(bus, {**reply, "id": "d2", "text": long_text})  # a re-sent id
        await deliver(bus, {**reply, "id": "d3", "channel": "slack", "text": "for slack"})
        await deliver(bus, {**reply, "id": "d4", "text": "for bob"}, instance="bob")
        await deliver(bus, {**reply, "id": "d5", "text": "last"})
        texts = [m["text"] for m in await _until_text(telegram_api, "last")]
        parts = texts[1:-1]
        assert len(parts) >= 3 and all(len(p) <= 4096 for p in parts)
        assert "".join(parts) == long_text
        assert "for slack" not in texts and "for bob" not in texts


async def _until_received(inbox: Any, text: str) -> list[events.Event]:
    """Received events up to and including the one with `text`."""
    seen: list[events.Event] = []

    async def collect() -> None:
        while not seen or InboundMessage.model_validate(seen[-1].data).text != text:
            seen.append(await inbox.next())

    await asyncio.wait_for(collect(), 15)
    return seen


async def _until_text(telegram_api: TelegramServer, text: str) -> list[dict[str, Any]]:
    return await telegram_api.wait(
        lambda: any(m["text"] == text for m in telegram_api.sent()), within=20
    )


async def test_own_bot_and_unlisted_messages_publish_nothing_and_buttons_become_actions(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    env = _env(
        nats, telegram_api, K8SCLAW_ALLOWED_SENDERS="4242, 77", K8SCLAW_ALLOWED_CHATS=str(CHAT)
    )
    async with (
        router_bus(nats) as bus,
        received(bus) as inbox,
        health(bus) as reports,
        channel_in_process("telegram", env),
    ):
        await wait_event(reports, lambda e: _report(e).state == "Connected")
        telegram_api.message(CHAT, "from myself", sender_id=BOT_ID, is_bot=True)
        telegram_api.message(CHAT, "from another bot", sender_id=555, is_bot=True)
        telegram_api.message(CHAT, None)  # a sticker
        telegram_api.message(CHAT, "not an allowed sender", sender_id=99)
        telegram_api.message(12345, "not an allowed chat")
        telegram_api.message(CHAT, "allowed\x1b[31m red", sender_id=77)
        seen = await _until_received(inbox, "allowed[31m red")
        assert len(seen) == 1  # control characters stripped, the rest dropped

        card = {"approvalId": "ap-1", "run": "alice-run-1", "tool": "execute_command"}
        approval = {**card, "summary": "rm -rf <tmp>"}
        await deliver(
            bus,
            {"id": "c1", "channel": "telegram", "chatId": str(CHAT), "kind": "approval",
             "approval": approval},
        )  # fmt: skip
        await deliver(
            bus, {"id": "t1", "channel": "telegram", "chatId": str(CHAT), "kind": "typing"}
        )
        posted = (await telegram_api.wait_sent(1))[0]
        buttons = posted["reply_markup"]["inline_keyboard"][0]
        assert [b["callback_data"] for b in buttons] == ["a:ap-1", "d:ap-1"]
        assert "rm -rf &lt;tmp&gt;" in posted["text"]
        await telegram_api.wait_sent(1, "sendChatAction")

        bot = {"id": BOT_ID, "is_bot": True, "first_name": "B"}
        chat = {"id": CHAT, "type": "supergroup"}
        card_message = {**posted, "message_id": 900, "chat": chat, "date": 1, "from": bot}
        query = telegram_api.press(card_message, "d:ap-1", sender_id=77)
        event = await wait_event(inbox, lambda e: True)
        press = InboundMessage.model_validate(event.data)
        assert press.action is not None
        assert (press.action.approval_id, press.action.decision) == ("ap-1", "deny")
        assert (press.sender_id, press.chat_id, press.text) == ("77", str(CHAT), "")
        answered = await telegram_api.wait_sent(1, "answerCallbackQuery")
        assert answered[0]["callback_query_id"] == query


async def test_a_refused_token_shows_error_unauthorized_and_healthz_503(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    telegram_api.unauthorized = True
    env = _env(nats, telegram_api)
    async with router_bus(nats) as bus, health(bus) as reports, channel_in_process("telegram", env):
        report = _report(await wait_event(reports, lambda e: _report(e).state == "Error"))
        assert report.message == "unauthorized: Unauthorized"
        answer = await _healthz(env)
        assert answer.status_code == 503 and "unauthorized" in answer.text
        assert telegram_api.token not in answer.text


async def test_a_platform_outage_and_rate_limits_lose_and_duplicate_nothing(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    env = _env(nats, telegram_api)
    chat = {"channel": "telegram", "chatId": str(CHAT)}
    async with (
        router_bus(nats) as bus,
        received(bus) as inbox,
        health(bus) as reports,
        channel_in_process("telegram", env),
    ):
        await wait_event(reports, lambda e: _report(e).state == "Connected")
        telegram_api.down()
        await wait_event(reports, lambda e: _report(e).state == "Disconnected")
        await deliver(bus, {**chat, "id": "o1", "text": "sent during the outage"})
        telegram_api.message(CHAT, "typed during the outage")
        assert (await _healthz(env)).status_code == 503
        telegram_api.rate_limit(1, retry_after=1)
        telegram_api.up()
        await wait_event(reports, lambda e: _report(e).state == "Connected")
        await _until_received(inbox, "typed during the outage")
        await deliver(bus, {**chat, "id": "o2", "text": "after"})
        texts = [m["text"] for m in await _until_text(telegram_api, "after")]
        assert texts == ["sent during the outage", "after"]


async def test_a_nats_restart_still_delivers_each_reply_once(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    env = _env(nats, telegram_api)
    chat = {"channel": "telegram", "chatId": str(CHAT)}
    async with channel_in_process("telegram", env):
        async with router_bus(nats) as bus, health(bus) as reports:
            await wait_event(reports, lambda e: _report(e).state == "Connected")
            await deliver(bus, {**chat, "id": "n1", "text": "before"})
            await _until_text(telegram_api, "before")
        nats.restart()
        async with router_bus(nats) as bus, received(bus) as inbox:
            await deliver(bus, {**chat, "id": "n2", "text": "after the restart"})
            texts = [m["text"] for m in await _until_text(telegram_api, "after the restart")]
            assert texts == ["before", "after the restart"]
            telegram_api.message(CHAT, "still heard")
            await _until_received(inbox, "still heard")


async def test_a_channel_identity_cannot_read_another_instances_deliveries(
    nats: NatsServer,
) -> None:
    own = busauth.channel_permissions(NAMESPACE, INSTANCE)
    async with router_bus(nats):
        pass  # the stream exists
    nc = await nats_client.connect(
        nats.url, user_credentials=str(nats.creds(own, "channel")), inbox_prefix=own.inbox_prefix
    )
    try:
        js = nc.jetstream(timeout=1)
        other = events.scoped_subject(events.CHANNEL_MESSAGE_DELIVER, NAMESPACE, "bob")
        for durable in (
            busauth.channel_consumer(NAMESPACE, "bob", "telegram"),
            busauth.channel_consumer(NAMESPACE, INSTANCE, "telegram"),
        ):
            with pytest.raises((nats_client.errors.Error, TimeoutError)):
                await js.pull_subscribe(other, durable=durable, stream="k8sclaw")
        mine = events.scoped_subject(events.CHANNEL_MESSAGE_DELIVER, NAMESPACE, INSTANCE)
        durable = busauth.channel_consumer(NAMESPACE, INSTANCE, "telegram")
        await js.pull_subscribe(mine, durable=durable, stream="k8sclaw")  # its own: allowed
    finally:
        await asyncio.wait_for(nc.close(), 5)


def test_markdown_becomes_telegram_html() -> None:
    source = (
        "**bold** *it* `a<b` & [doc](https://x.io/?a=1&b=2) ~~old~~ snake_case "
        "[no](javascript:alert(1))\n```python\nif a < b:\n    pass\n```"
    )
    assert to_html(source) == (
        '<b>bold</b> <i>it</i> <code>a&lt;b</code> &amp; <a href="https://x.io/?a=1&amp;b=2">'
        "doc</a> <s>old</s> snake_case [no](javascript:alert(1))\n"
        '<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>'
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="*_~`[]()<>&\n abc:/.h", max_size=200))
def test_telegram_html_is_always_well_formed(source: str) -> None:
    stack: list[str] = []
    for tag in re.findall(r"<(/?)(\w+)", to_html(source)):
        if tag[0]:
            assert stack and stack.pop() == tag[1]
        else:
            stack.append(tag[1])
    assert not stack
    if not set(source) & set("*_~`["):
        assert to_plain(to_html(source)) == source  # plain text comes through unchanged


async def test_webhook_mode_sets_the_webhook_and_takes_only_updates_with_the_secret(
    nats: NatsServer, telegram_api: TelegramServer
) -> None:
    port = free_port()
    env = _env(
        nats,
        telegram_api,
        K8SCLAW_CHANNEL_MODE="webhook",
        K8SCLAW_LISTEN_PORT=str(port),
        TELEGRAM_WEBHOOK_URL="https://hooks.example.com/telegram",
        TELEGRAM_WEBHOOK_SECRET="s3cret-token",
    )
    update = {
        "update_id": 1,
        "message": {
            "message_id": 5,
            "from": {"id": 4242, "is_bot": False, "first_name": "U"},
            "chat": {"id": CHAT, "type": "supergroup"},
            "date": 1,
            "text": "via webhook",
        },
    }
    url = f"http://127.0.0.1:{port}/telegram"
    async with (
        router_bus(nats) as bus,
        received(bus) as inbox,
        health(bus) as reports,
        channel_in_process("telegram", env),
        httpx.AsyncClient(timeout=10) as client,
    ):
        await wait_event(reports, lambda e: _report(e).state == "Connected")
        webhook = (await telegram_api.wait_sent(1, "setWebhook"))[0]
        assert webhook["url"] == "https://hooks.example.com/telegram"
        assert webhook["secret_token"] == "s3cret-token"
        header = "X-Telegram-Bot-Api-Secret-Token"
        forged = await client.post(url, json=update, headers={header: "wrong"})
        assert forged.status_code == 403
        assert (await client.post(url, json=update)).status_code == 403
        good = await client.post(url, json=update, headers={header: "s3cret-token"})
        assert good.status_code == 200  # answered once the update is on the bus
        seen = await inbox.next(5)
        assert InboundMessage.model_validate(seen.data).text == "via webhook"
        with pytest.raises(TimeoutError):
            await inbox.next(0.3)  # the forged ones published nothing
