"""Run the real `k8sclaw-channel` program against a test bus and platform server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from k8sclaw_controllers.channels import _settings, load_adapter
from k8sclaw_controllers.channels._runtime import ChannelRuntime
from k8sclaw_protocol import busauth, events
from k8sclaw_protocol._bus import EventBus, Subscription
from k8sclaw_protocol._chat import Delivery
from tests.harness.nats_fixtures import NatsServer, free_port

NAMESPACE, INSTANCE = "team", "alice"
PROGRAM = str(Path(sys.executable).parent / "k8sclaw-channel")


def channel_env(nats: NatsServer, namespace: str = NAMESPACE, **extra: str) -> dict[str, str]:
    """The environment the controller's Deployment gives a channel pod of instance `alice`
    in `namespace` (short back-off); `extra` adds or overrides variables."""
    creds = nats.creds(busauth.channel_permissions(namespace, INSTANCE), "channel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8SCLAW_")}
    env.update(
        INSTANCE_NAME=INSTANCE,
        POD_NAMESPACE=namespace,
        EVENT_BUS_URL=nats.url,
        K8SCLAW_BUS_CREDS_DIR=str(creds.parent),
        K8SCLAW_HEALTH_PORT=str(free_port()),
        K8SCLAW_CHANNEL_BACKOFF_INITIAL="0.1",
        K8SCLAW_CHANNEL_BACKOFF_MAX="0.5",
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def channel_process(kind: str, env: dict[str, str]) -> AsyncIterator[Any]:
    """`k8sclaw-channel <kind>` running; SIGTERM (then kill) on the way out."""
    proc = await asyncio.create_subprocess_exec(PROGRAM, kind, env=env)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def channel_in_process(kind: str, env: dict[str, str]) -> AsyncIterator[ChannelRuntime]:
    """The same program run inside the test's loop (settings read from `env` exactly as
    `main` reads them): no interpreter start-up per test."""
    config = _settings.channel_config(_settings.channel_type([kind], env), env)
    runtime = ChannelRuntime(config, load_adapter(kind, config), _settings.runtime_settings(env))
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def router_bus(nats: NatsServer) -> AsyncIterator[EventBus]:
    """The router's identity (the stream made first, as the controller does): reads what
    channel pods publish and publishes deliveries."""
    controller = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    await asyncio.wait_for(controller.close(), 5)
    bus = await EventBus.connect(
        nats.url, name="test-router", credentials=nats.creds_for("router"), manage_stream=False
    )
    try:
        yield bus
    finally:
        await asyncio.wait_for(bus.close(), 5)


def received(bus: EventBus) -> Subscription:
    return bus.subscribe(events.scoped_filter(events.CHANNEL_MESSAGE_RECEIVED), deliver="all")


def health(bus: EventBus) -> Subscription:
    return bus.subscribe(events.scoped_filter(events.CHANNEL_HEALTH_UPDATE), deliver="all")


async def wait_event(
    sub: Subscription, predicate: Callable[[events.Event], bool], within: float = 15
) -> events.Event:
    """The first event matching `predicate` (others are skipped)."""

    async def find() -> events.Event:
        while True:
            event = await sub.next()
            if predicate(event):
                return event

    return await asyncio.wait_for(find(), within)


async def deliver(
    bus: EventBus, delivery: dict[str, Any], instance: str = INSTANCE, retry: bool = True
) -> None:
    """Publish a delivery as the router does."""
    data = Delivery.model_validate(delivery).model_dump(by_alias=True, exclude_none=True)
    event = events.Event.new(events.CHANNEL_MESSAGE_DELIVER, data)
    await bus.publish(event, scope=(NAMESPACE, instance), retry=retry)
