"""WhatsAppAdapter against the scripted Meta: signed webhooks in, Graph calls out, Graph's
errors as the adapter contract's, hostile notifications never stopping `run`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from k8sclaw_controllers.channels import _adapter
from k8sclaw_controllers.channels.whatsapp import ConfigurationError, WhatsAppAdapter
from k8sclaw_protocol import events
from k8sclaw_protocol._chat import MAX_TEXT_BYTES, Delivery, HealthReport, InboundMessage
from tests.channels._channel import (
    channel_env,
    channel_in_process,
    deliver,
    health,
    router_bus,
    wait_event,
)
from tests.channels._recorder import Recorder
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.platforms.whatsapp import TEXT_LIMIT, ScriptedWhatsApp

WAIT = 10.0


@dataclass
class Running:
    adapter: WhatsAppAdapter
    inbound: Recorder
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.listen_port}/webhook"


def make_adapter(whatsapp: ScriptedWhatsApp, **env: str) -> WhatsAppAdapter:
    config = _adapter.ChannelConfig(
        channel="whatsapp",
        instance="assistant",
        namespace="default",
        env={**whatsapp.env(), **env},
        mode="webhook",
        listen_host="127.0.0.1",
        listen_port=0,
    )
    return WhatsAppAdapter(config, probe_interval=0.2)


@contextlib.asynccontextmanager
async def serving(adapter: WhatsAppAdapter) -> AsyncIterator[Running]:
    inbound = Recorder()
    task = asyncio.create_task(adapter.run(inbound))
    try:
        await inbound.until(lambda: bool(inbound.states) or task.done())
        if task.done():
            task.result()
        yield Running(adapter, inbound, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, _adapter.PlatformError):
            await asyncio.wait_for(task, WAIT)


@pytest.fixture
async def live(whatsapp: ScriptedWhatsApp) -> AsyncIterator[Running]:
    adapter = make_adapter(whatsapp)
    try:
        async with serving(adapter) as running:
            yield running
    finally:
        await adapter.close()


def delivery(**fields: object) -> Delivery:
    base: dict[str, object] = {"id": "d-1", "channel": "whatsapp", "chatId": "16315551181"}
    return Delivery.model_validate({**base, **fields})


async def test_user_message_becomes_one_inbound_message(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    assert live.inbound.states == [("Connected", None)]
    payload = whatsapp.text_payload("hello agent", name="Ada", message_id="wamid.HELLO")
    for _ in range(2):  # Meta redelivers; the adapter hands it over once
        assert (await whatsapp.post(live.url, payload)).status_code == 200
    await live.inbound.until(lambda: len(live.inbound.messages) >= 1)
    second = whatsapp.text_payload("and again", message_id="wamid.SECOND")
    await whatsapp.post(live.url, second)
    await live.inbound.until(lambda: len(live.inbound.messages) >= 2)
    first = live.inbound.messages[0]
    assert (first.chat_id, first.sender_id, first.thread_id) == ("16315551181",) * 2 + (None,)
    assert (first.message_id, first.sender_name, first.text) == (
        "wamid.HELLO",
        "Ada",
        "hello agent",
    )
    assert [m.text for m in live.inbound.messages] == ["hello agent", "and again"]


async def test_meta_gets_200_while_the_runtime_is_still_busy(whatsapp: ScriptedWhatsApp) -> None:
    gate = asyncio.Event()

    class SlowRuntime(Recorder):
        async def received(self, message: InboundMessage) -> None:
            await gate.wait()
            await super().received(message)

    adapter = make_adapter(whatsapp)
    inbound = SlowRuntime()
    task = asyncio.create_task(adapter.run(inbound))
    try:
        await inbound.until(lambda: bool(inbound.states))
        url = f"http://127.0.0.1:{adapter.listen_port}/webhook"
        for text in ("first", "second"):
            assert (await whatsapp.post(url, whatsapp.text_payload(text))).status_code == 200
        assert inbound.messages == []
        gate.set()
        await inbound.until(lambda: len(inbound.messages) == 2)
        assert [m.text for m in inbound.messages] == ["first", "second"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)
        await adapter.close()


async def test_own_statuses_echoes_and_other_numbers_hand_over_nothing(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    echo = whatsapp.text_payload("our own reply", wa_id=whatsapp.own_wa_id)
    other = whatsapp.text_payload("for another number")
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    smb_echo = whatsapp.text_payload("business app echo")
    smb_echo["entry"][0]["changes"][0]["field"] = "smb_message_echoes"
    for payload in (whatsapp.status_payload("wamid.X"), echo, other, smb_echo):
        assert (await whatsapp.post(live.url, payload)).status_code == 200
    await whatsapp.post(live.url, whatsapp.text_payload("marker"))
    await live.inbound.until(lambda: bool(live.inbound.messages))
    assert [m.text for m in live.inbound.messages] == ["marker"]


async def test_unsigned_and_wrongly_signed_notifications_are_refused(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    payload = whatsapp.text_payload("forged")
    assert (await whatsapp.post(live.url, payload, signature=None)).status_code == 401
    forged = whatsapp.sign(b"{}", secret="attacker")
    assert (await whatsapp.post(live.url, payload, signature=forged)).status_code == 403
    await whatsapp.post(live.url, whatsapp.text_payload("genuine"))
    await live.inbound.until(lambda: bool(live.inbound.messages))
    assert [m.text for m in live.inbound.messages] == ["genuine"]


async def test_verify_handshake_echoes_challenge_only_for_the_right_token(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    async with httpx.AsyncClient(timeout=WAIT) as client:
        ok = await client.get(
            live.url, params={**params, "hub.verify_token": whatsapp.verify_token}
        )
        bad = await client.get(live.url, params={**params, "hub.verify_token": "guess"})
        none = await client.get(live.url, params=params)
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (
        200,
        "1158201444",
        "text/plain",
    )
    assert (bad.status_code, none.status_code) == (403, 403)


async def test_without_a_verify_token_the_handshake_always_fails(
    whatsapp: ScriptedWhatsApp,
) -> None:
    adapter = make_adapter(whatsapp, WHATSAPP_VERIFY_TOKEN="")
    params = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}
    try:
        async with serving(adapter) as running, httpx.AsyncClient(timeout=WAIT) as client:
            assert (await client.get(running.url, params=params)).status_code == 403
    finally:
        await adapter.close()


async def test_long_markdown_reply_arrives_split_complete_and_formatted(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    words = [f"word{i}" for i in range(1500)]
    markdown = "**Result** of ~~old~~ *new* run:\n\n" + " ".join(words)
    parts = live.adapter.render(markdown)
    await live.adapter.send_text(delivery(replyTo="wamid.ASKED"), parts)
    texts = [s for s in whatsapp.sent if s.kind == "text"]
    assert len(texts) == len(parts) >= 3
    assert all(len(s.text) <= TEXT_LIMIT and s.body["to"] == "16315551181" for s in texts)
    assert texts[0].body["context"] == {"message_id": "wamid.ASKED"}
    assert all("context" not in s.body for s in texts[1:])
    received = " ".join(s.text for s in texts)
    assert received.startswith("*Result* of ~old~ _new_ run:")
    assert received.split()[-1500:] == words


async def test_approval_card_posts_buttons_and_a_press_comes_back_as_action(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    card = {"approvalId": "ap-7", "run": "assistant-ch-x1", "tool": "execute_command"}
    card["summary"] = "rm -rf /tmp/cache"
    await live.adapter.send_approval(delivery(kind="approval", approval=card))
    (sent,) = whatsapp.sent
    interactive = sent.body["interactive"]
    assert (sent.kind, interactive["type"]) == ("interactive", "button")
    assert "rm -rf /tmp/cache" in interactive["body"]["text"]
    buttons = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [b["id"] for b in buttons] == ["approve:ap-7", "deny:ap-7"]
    assert all(len(b["title"]) <= 20 for b in buttons)
    await whatsapp.post(live.url, whatsapp.button_payload("deny:ap-7", sent.message_id))
    await live.inbound.until(lambda: bool(live.inbound.messages))
    (press,) = live.inbound.messages
    assert press.action is not None and press.text == ""
    assert (press.action.approval_id, press.action.decision) == ("ap-7", "deny")


async def test_typing_marks_the_message_read_with_the_indicator(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    await live.adapter.send_typing(delivery(kind="typing", replyTo="wamid.ASKED"))
    whatsapp.fail_next(500, 2, "Service temporarily unavailable")
    await live.adapter.send_typing(delivery(kind="typing", replyTo="wamid.AGAIN"))  # no raise
    (typing,) = whatsapp.sent
    assert typing.body == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.ASKED",
        "typing_indicator": {"type": "text"},
    }


async def test_bad_token_is_unauthorized_and_never_connected(whatsapp: ScriptedWhatsApp) -> None:
    adapter = make_adapter(whatsapp, WHATSAPP_ACCESS_TOKEN="EAAG-revoked")
    inbound = Recorder()
    try:
        with pytest.raises(_adapter.UnauthorizedError, match="unauthorized"):
            await asyncio.wait_for(adapter.run(inbound), WAIT)
        with pytest.raises(_adapter.UnauthorizedError):
            await adapter.send_text(delivery(), ["hi"])
    finally:
        await adapter.close()
    assert inbound.states == []


async def test_token_revoked_while_running_ends_run_unauthorized(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    whatsapp.token = "EAAG-rotated"
    with pytest.raises(_adapter.UnauthorizedError):
        await asyncio.wait_for(live.task, WAIT)


@pytest.mark.parametrize(
    ("error", "retry_after", "expected"),
    [((429, 130429), "7", 7.0), ((400, 80007), None, 30.0), ((400, 4), "bogus", 30.0)],
    ids=["http-429-retry-after", "code-80007", "code-4"],
)
async def test_rate_limits_raise_with_the_servers_retry_after(
    live: Running,
    whatsapp: ScriptedWhatsApp,
    error: tuple[int, int],
    retry_after: str | None,
    expected: float,
) -> None:
    whatsapp.fail_next(*error, "Rate limit hit", retry_after=retry_after)
    with pytest.raises(_adapter.RateLimitedError) as caught:
        await live.adapter.send_text(delivery(), ["one", "two"])
    assert caught.value.retry_after == expected
    assert whatsapp.sent == []


async def test_server_down_is_unavailable_and_a_later_run_reconnects(
    whatsapp: ScriptedWhatsApp,
) -> None:
    adapter = make_adapter(whatsapp)
    try:
        async with serving(adapter) as running:
            whatsapp.down()
            with pytest.raises(_adapter.UnavailableError):
                await asyncio.wait_for(running.task, WAIT)
            with pytest.raises(_adapter.UnavailableError):
                await adapter.send_text(delivery(), ["hi"])
        with pytest.raises(_adapter.UnavailableError):
            await asyncio.wait_for(adapter.run(Recorder()), WAIT)
        whatsapp.up()
        async with serving(adapter) as again:
            assert again.inbound.states == [("Connected", None)]
            await whatsapp.post(again.url, whatsapp.text_payload("back"))
            await again.inbound.until(lambda: bool(again.inbound.messages))
            await adapter.send_text(delivery(), ["welcome back"])
        assert [s.text for s in whatsapp.sent] == ["welcome back"]
    finally:
        await adapter.close()


async def test_graph_5xx_is_unavailable(live: Running, whatsapp: ScriptedWhatsApp) -> None:
    whatsapp.fail_next(503, 2, "Service temporarily unavailable", error_type="OAuthException")
    with pytest.raises(_adapter.UnavailableError, match="temporarily"):
        await live.adapter.send_text(delivery(), ["hi"])


async def test_hostile_notifications_never_stop_run(
    live: Running, whatsapp: ScriptedWhatsApp
) -> None:
    huge_body = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (2 << 20) + b'"}'
    assert (await whatsapp.post(live.url, huge_body)).status_code == 413
    assert (await whatsapp.post(live.url, b"{not json")).status_code == 400
    long_id = whatsapp.text_payload("long id", message_id="wamid." + "9" * 300)
    bad_shapes: list[object] = [
        [],
        {"object": "page"},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": "nope"}, 7, {"changes": [{"field": "messages", "value": []}]}],
        },
        whatsapp.button_payload("launch:missiles", "wamid.C"),
        long_id,
    ]
    for payload in bad_shapes:
        assert (await whatsapp.post(live.url, payload)).status_code == 200
    text = "\x1b[2Jwipe\u202eevil\x00 " + "é" * MAX_TEXT_BYTES
    await whatsapp.post(live.url, whatsapp.text_payload(text, name="\x07Mallory\x1b"))
    await live.inbound.until(lambda: bool(live.inbound.messages))
    (message,) = live.inbound.messages
    assert message.text.startswith("[2Jwipeevil ") and len(message.text.encode()) <= MAX_TEXT_BYTES
    assert message.sender_name == "Mallory"
    assert not live.task.done()


def test_missing_app_secret_refuses_to_start(whatsapp: ScriptedWhatsApp) -> None:
    with pytest.raises(ConfigurationError, match="WHATSAPP_APP_SECRET"):
        make_adapter(whatsapp, WHATSAPP_APP_SECRET="")


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*it* and _it_", "_it_ and _it_"),
        ("~~gone~~", "~gone~"),
        ("# Title\n* one\n+ two", "*Title*\n- one\n- two"),
        ("see [docs](https://k8sclaw.io/x)", "see docs (https://k8sclaw.io/x)"),
        ("`**raw**` stays", "`**raw**` stays"),
        ("```python\nx = a**2 * b*\n```", "```\nx = a**2 * b*\n```"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("agent says \x1b[31mred\u202e", "agent says [31mred"),
    ],
    ids=[
        "bold",
        "italic",
        "strike",
        "heading-list",
        "link",
        "inline-code",
        "fence",
        "math",
        "control-chars",
    ],
)
def test_render_converts_markdown_to_whatsapp(
    whatsapp: ScriptedWhatsApp, markdown: str, expected: str
) -> None:
    assert make_adapter(whatsapp).render(markdown) == [expected]


def test_render_cuts_unbroken_text_at_the_limit(whatsapp: ScriptedWhatsApp) -> None:
    parts = make_adapter(whatsapp).render("x" * (TEXT_LIMIT * 2 + 5))
    assert [len(p) for p in parts] == [TEXT_LIMIT, TEXT_LIMIT, 5]
    assert make_adapter(whatsapp).render("  \n ") == []


async def test_a_reply_sent_after_a_graph_outage_brings_health_back_to_connected(
    nats: NatsServer, whatsapp: ScriptedWhatsApp
) -> None:
    """The webhook stays up through a Graph outage, so only the delivery sees it: the
    first one that goes through must report Connected again (it stayed Disconnected)."""
    env = channel_env(nats, **whatsapp.env(), K8SCLAW_LISTEN_PORT=str(free_port()))
    chat = {"channel": "whatsapp", "chatId": "16315551181"}

    def state(event: events.Event) -> str:
        return HealthReport.model_validate(event.data).state

    async with (
        router_bus(nats) as bus,
        health(bus) as reports,
        channel_in_process("whatsapp", env),
    ):
        await wait_event(reports, lambda e: state(e) == "Connected")
        whatsapp.down()
        await deliver(bus, {**chat, "id": "w1", "text": "sent during the outage"})
        await wait_event(reports, lambda e: state(e) == "Disconnected")
        whatsapp.up()
        await wait_event(reports, lambda e: state(e) == "Connected")
        await deliver(bus, {**chat, "id": "w2", "text": "after"})
        async with asyncio.timeout(WAIT):
            while [s.text for s in whatsapp.sent][-1:] != ["after"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    assert [s.text for s in whatsapp.sent] == ["sent during the outage", "after"]
