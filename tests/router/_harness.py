"""The router on real NATS and the Kubernetes API (emulator or a real cluster), driven the
way production drives it: a channel pod's identity publishes chat messages, the test plays
the controller by writing run status, and deliveries are read off the bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.router import OnAction, Router
from k8sclaw_protocol import AgentRun, Backoff, EventBus, busauth, events, names
from k8sclaw_protocol._bus import Subscription
from k8sclaw_protocol._chat import Delivery
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer

FAST = Backoff(initial=0.02, maximum=0.2)
WAIT = 30.0
INSTANCE = "alice"


async def eventually(check: Callable[[], Any], within: float = WAIT, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy; bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


@dataclass
class World:
    """Everything a router test touches."""

    nats: NatsServer
    kube_env: KubeEnv
    kube: _kube.Kube
    store: transcripts.SqlStore
    channel: EventBus
    observer: EventBus
    deliveries: list[Delivery] = field(default_factory=list)
    router: Router | None = None

    @property
    def ns(self) -> str:
        return self.kube_env.namespace

    async def say(self, text: str, message_id: str, chat: str = "c-1", **extra: Any) -> None:
        """A person's message, published with the channel pod's own identity."""
        data = {
            "channel": "telegram",
            "messageId": message_id,
            "chatId": chat,
            "senderId": "u-1",
            "text": text,
            **extra,
        }
        event = events.Event.new(events.CHANNEL_MESSAGE_RECEIVED, data)
        await self.channel.publish(event, scope=(self.ns, INSTANCE), retry=True)

    async def runs(self) -> list[AgentRun]:
        items = await self.kube.items(_kube.claw(self.ns, "agentruns"))
        return sorted(
            (AgentRun.from_wire(i) for i in items), key=lambda r: r.metadata.creation_timestamp
        )

    async def finish(self, run: AgentRun, result: str | None = None, error: str | None = None):
        """Play the controller: the run ends Succeeded with `result` or Failed with `error`."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        phase = "Failed" if error else "Succeeded"
        status = {"phase": phase, "result": result, "error": error, "completedAt": now}
        path = _kube.claw(self.ns, "agentruns", run.name, "status")
        await self.kube.patch(path, {"status": status})

    async def set_status(self, run: AgentRun, status: dict[str, Any]) -> None:
        path = _kube.claw(self.ns, "agentruns", run.name, "status")
        await self.kube.patch(path, {"status": status})

    def texts(self, kind: str = "text") -> list[Delivery]:
        return [d for d in self.deliveries if d.kind == kind]


async def _collect(sub: Subscription, into: list[Delivery]) -> None:
    async for event in sub:
        into.append(Delivery.model_validate(event.data))


@contextlib.asynccontextmanager
async def world(nats: NatsServer, kube_env: KubeEnv, tmp_path: Path) -> AsyncIterator[World]:
    """Stream made, instance created, a channel pod's bus and a delivery observer."""
    controller = await EventBus.connect(
        nats.url, credentials=nats.creds_for("controller"), backoff=FAST
    )
    client = _kube.Kube.connect(_kube.load_configuration(str(kube_env.kubeconfig)))
    permissions = busauth.channel_permissions(kube_env.namespace, INSTANCE)
    channel = await EventBus.connect(
        nats.url,
        credentials=nats.creds(permissions, "channel"),
        inbox_prefix=permissions.inbox_prefix,
        manage_stream=False,
        backoff=FAST,
    )
    store = await transcripts.open_store(None, tmp_path)
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": INSTANCE},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    await client.create(_kube.claw(kube_env.namespace, "clawinstances"), body)
    w = World(nats, kube_env, client, store, channel, controller)
    sub = controller.subscribe(events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER), deliver="all")
    async with sub:
        collector = asyncio.create_task(_collect(sub, w.deliveries))
        try:
            yield w
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            await store.close()
            await channel.close()
            await controller.close()
            await client.close()


@contextlib.asynccontextmanager
async def routing(
    w: World,
    on_action: OnAction | None = None,
    typing_seconds: float = 60.0,
    kube: _kube.Kube | None = None,
) -> AsyncIterator[Router]:
    """The router running (its own bus identity; `kube`, else the test's admin client)
    until the block ends."""
    bus = await EventBus.connect(
        w.nats.url, credentials=w.nats.creds_for("router"), manage_stream=False, backoff=FAST
    )
    router = Router(
        bus,
        kube or w.kube,
        w.store,
        on_action=on_action,
        typing_seconds=typing_seconds,
        namespace=w.ns,
    )
    task = asyncio.create_task(router.run())
    ready = asyncio.create_task(router.ready.wait())
    await asyncio.wait({task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert router.ready.is_set(), "the router did not become ready"
    w.router = router
    try:
        yield router
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await bus.close()
