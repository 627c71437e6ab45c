"""Faults end to end: NATS restarts while a chat's run is in progress (the model holds its
answer), then the model answers; the reply reaches the chat exactly once and no second run
is made. Real NATS, controller, process kubelet, router, `k8sclaw-channel telegram` and the
scripted Bot API and LLM (the harness of `_e2e.py`)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from k8sclaw_controllers.manager import _kube
from tests.channels._channel import channel_in_process
from tests.controllers.manager import _harness
from tests.controllers.manager.test_end_to_end import setup_instance
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, text
from tests.harness.nats_fixtures import NatsServer
from tests.harness.platforms.telegram import TelegramServer
from tests.router import _e2e
from tests.router._harness import eventually

pytestmark = pytest.mark.slow
CHAT = 5551234


def _telegram_env(nats: NatsServer, kube: KubeEnv, telegram: TelegramServer) -> dict[str, str]:
    extra = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_POLL_TIMEOUT": "2",
    }
    return _e2e.channel_env(nats, kube, extra)


async def test_a_nats_restart_mid_run_still_posts_the_reply_once(
    kube: KubeEnv,
    kubelet: Any,
    *,
    llm: ScriptedLLM,
    nats: NatsServer,
    telegram_api: TelegramServer,
    tmp_path: Path,
) -> None:
    setup_instance(kube, llm)
    hold = threading.Event()
    llm.script(text("Forty-two, after the restart.", hold=hold), text("Still here."))
    settings = _harness.settings_for(kube, **nats.controller_settings())
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    try:
        async with (
            _harness.running(settings),
            _e2e.router(nats, kube, tmp_path),
            channel_in_process("telegram", _telegram_env(nats, kube, telegram_api)),
        ):
            telegram_api.message(CHAT, "what is the answer?")
            # The run is in progress: the model was asked and holds its answer mid-stream.
            await eventually(lambda: llm.requests, within=120, what="the model to be asked")
            assert llm.requests[0].body.get("stream")  # so `hold` holds the answer
            await asyncio.to_thread(nats.restart)
            assert telegram_api.sent() == []  # nothing could have been answered yet
            hold.set()
            sent = await telegram_api.wait_sent(1, within=120)
            assert sent[0]["text"] == "Forty-two, after the restart."
            # A second message is answered after the first: a duplicate of the first reply
            # (a redelivered result, a second run) would show up before it.
            telegram_api.message(CHAT, "are you there?")
            sent = await telegram_api.wait_sent(2, within=120)
            runs = await client.items(_kube.claw(kube.namespace, "agentruns"))
    finally:
        hold.set()
        await client.close()
    assert [m["text"] for m in sent] == ["Forty-two, after the restart.", "Still here."]
    assert all(str(m["chat_id"]) == str(CHAT) for m in sent)
    assert len(runs) == 2  # one run per message, none made twice
    assert len(llm.requests) == 2
