"""`k8sclaw-apiserver` runs the router (its own bus identity) when the router creds are
configured: a chat message published by a channel pod becomes an AgentRun."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import EventBus, busauth, events, names
from tests.controllers.apiserver._server import running, settings_for
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.router._harness import FAST, eventually


async def test_the_api_server_routes_chat_messages(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    ns = kube.namespace
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alice"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    await client.create(_kube.claw(ns, "clawinstances"), instance)
    controller = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    await controller.close()  # the stream exists, as the controller makes it
    settings = replace(
        settings_for(kube.kubeconfig, tmp_path, nats.url, nats.creds_for("apiserver")),
        router_creds=nats.creds_for("router"),
    )
    permissions = busauth.channel_permissions(ns, "alice")
    channel = await EventBus.connect(
        nats.url,
        credentials=nats.creds(permissions, "channel"),
        inbox_prefix=permissions.inbox_prefix,
        manage_stream=False,
        backoff=FAST,
    )
    try:
        with running(settings):
            data = {
                "channel": "telegram",
                "messageId": "m-1",
                "chatId": "c-1",
                "senderId": "u-1",
                "text": "hello",
            }
            event = events.Event.new(events.CHANNEL_MESSAGE_RECEIVED, data)

            async def created() -> list[dict[str, object]]:
                await channel.publish(event, scope=(ns, "alice"), retry=True)
                items = await client.items(_kube.claw(ns, "agentruns"))
                return items or await asyncio.sleep(0.5, result=[])

            (run,) = await eventually(created, what="the chat run")
            assert run["metadata"]["labels"][names.LABEL_SOURCE_CHANNEL] == "telegram"
    finally:
        await channel.close()
        await client.close()
