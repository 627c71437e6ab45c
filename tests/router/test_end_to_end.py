"""End to end: a Telegram user (scripted Bot API) → `k8sclaw-channel telegram` → router →
controller, process kubelet, agent and scripted LLM → the reply in the same chat; the
second message continues the conversation (the model receives the first turn)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.router import Router
from k8sclaw_protocol import EventBus, busauth
from tests.channels._channel import channel_in_process
from tests.controllers.manager import _harness
from tests.controllers.manager.test_end_to_end import setup_instance
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, text
from tests.harness.nats_fixtures import NatsServer, free_port
from tests.harness.platforms.telegram import TelegramServer
from tests.router._harness import FAST

pytestmark = pytest.mark.slow
CHAT = 5551234


def _channel_env(nats: NatsServer, kube: KubeEnv, telegram: TelegramServer) -> dict[str, str]:
    creds = nats.creds(busauth.channel_permissions(kube.namespace, "alice"), "channel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8SCLAW_")}
    env.update(
        INSTANCE_NAME="alice",
        POD_NAMESPACE=kube.namespace,
        EVENT_BUS_URL=nats.url,
        K8SCLAW_BUS_CREDS_DIR=str(creds.parent),
        K8SCLAW_HEALTH_PORT=str(free_port()),
        K8SCLAW_CHANNEL_BACKOFF_INITIAL="0.1",
        K8SCLAW_CHANNEL_BACKOFF_MAX="0.5",
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.url,
        TELEGRAM_POLL_TIMEOUT="2",
    )
    return env


@contextlib.asynccontextmanager
async def _router(nats: NatsServer, kube: KubeEnv, tmp_path: Path) -> Any:
    bus = await EventBus.connect(
        nats.url, credentials=nats.creds_for("router"), manage_stream=False, backoff=FAST
    )
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    store = await transcripts.open_store(None, tmp_path)
    router = Router(bus, client, store, namespace=kube.namespace)
    task = asyncio.create_task(router.run())
    try:
        await asyncio.wait_for(router.ready.wait(), 60)
        yield router
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
        await bus.close()
        await client.close()


async def test_a_telegram_conversation_is_answered_in_the_same_chat_with_history(
    kube: KubeEnv,
    kubelet: Any,
    *,
    llm: ScriptedLLM,
    nats: NatsServer,
    telegram_api: TelegramServer,
    tmp_path: Path,
) -> None:
    setup_instance(kube, llm)
    llm.script(text("Nice to meet you, Ada."), text("Your name is Ada."))
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with (
        _harness.running(settings),
        _router(nats, kube, tmp_path),
        channel_in_process("telegram", _channel_env(nats, kube, telegram_api)),
    ):
        telegram_api.message(CHAT, "my name is Ada")
        sent = await telegram_api.wait_sent(1, within=120)
        assert sent[0]["text"] == "Nice to meet you, Ada."
        assert str(sent[0]["chat_id"]) == str(CHAT)
        telegram_api.message(CHAT, "what is my name?")
        sent = await telegram_api.wait_sent(2, within=120)
        assert sent[1]["text"] == "Your name is Ada."
    said = [
        (m["role"], m["content"]) for m in llm.requests[1].body["messages"] if m["role"] != "system"
    ]
    assert said == [
        ("user", "my name is Ada"),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "what is my name?"),
    ]
