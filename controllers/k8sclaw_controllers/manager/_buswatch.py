"""The bus side of the manager: run completions and channel health.

`agent.run.completed` / `agent.run.failed` (from the bridge) finish runs;
`channel.health.update` (from channel pods) updates the ClawInstance's channel status.
Events name their namespace (`metadata.namespace`), so equal names in two namespaces
never collide; events without it are matched only when the name is unambiguous.
Runs beside the watches and never blocks them: while NATS is unreachable the Pod/Job path
keeps finishing runs, and the durable consumers catch up on what was published meanwhile
(a run already terminal is simply skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from k8sclaw_controllers.manager import _completion, _instance, _outcome
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import _events
from k8sclaw_protocol._bus import EventBus

log = logging.getLogger("k8sclaw.controller.bus")
DURABLE_PREFIX = "k8sclaw-controller"
META_NAMESPACE = _events.META_NAMESPACE
TOPICS = (_events.AGENT_RUN_COMPLETED, _events.AGENT_RUN_FAILED, _events.CHANNEL_HEALTH_UPDATE)
CLOSE_TIMEOUT = 2.0


def _locate(
    event: _events.Event, name_key: str, known: Iterable[tuple[str, str]]
) -> tuple[str, str] | None:
    """(namespace, name) an event names: from its namespace metadata, else the one known
    object of that name (events from older bridges carry no namespace); None if ambiguous."""
    name = event.metadata.get(name_key)
    if not name:
        return None
    namespace = event.metadata.get(META_NAMESPACE)
    if namespace:
        return namespace, name
    matches = [key for key in known if key[1] == name]
    return matches[0] if len(matches) == 1 else None


def find_run(ctx: Context, event: _events.Event) -> tuple[str, str] | None:
    """(namespace, name) of the run an event is about, when it is unambiguous."""
    instance = event.metadata.get(_events.META_INSTANCE_NAME)
    known = (
        key for key, record in ctx.state.runs.items() if not instance or record.instance == instance
    )
    return _locate(event, _events.META_AGENT_RUN_ID, known)


def outcome_of(event: _events.Event) -> _outcome.Outcome:
    """Outcome from an event's data (the agent's result object; untrusted)."""
    data: Any = event.data if isinstance(event.data, dict) else {}
    if event.topic == _events.AGENT_RUN_FAILED and data.get("status") != "error":
        data = {**data, "status": "error"}
    return _outcome.from_payload(data)


def find_instance(ctx: Context, event: _events.Event) -> tuple[str, str] | None:
    """(namespace, name) of the ClawInstance a channel event is about, when unambiguous."""
    return _locate(event, _events.META_INSTANCE_NAME, ctx.state.instances)


async def handle(ctx: Context, event: _events.Event) -> None:
    """Apply one bus event: finish a run (unless already terminal) or record channel health."""
    if event.topic == _events.CHANNEL_HEALTH_UPDATE:
        instance = find_instance(ctx, event)
        health = _instance.health_of(event.data)
        if instance is not None and health is not None:
            await _instance.apply_health(ctx, instance[0], instance[1], health)
        return
    key = find_run(ctx, event)
    if key is None or ctx.state.is_terminal(key):
        return
    await _completion.finish(ctx, key[0], key[1], outcome_of(event))


async def consume(ctx: Context, url: str) -> None:
    """Connect (forever, with back-off) and handle completion events until cancelled."""
    bus = await EventBus.connect(url, name=DURABLE_PREFIX)
    try:
        await asyncio.gather(*(_consume_topic(ctx, bus, topic) for topic in TOPICS))
    finally:
        # A drain can wait out nats' 30 s drain timeout on a pending pull; never block exit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bus.close(), CLOSE_TIMEOUT)


async def _consume_topic(ctx: Context, bus: EventBus, topic: str) -> None:
    durable = f"{DURABLE_PREFIX}-{topic.replace('.', '-')}"
    async with bus.subscribe(topic, durable=durable, deliver="all") as subscription:
        async for event in subscription:
            try:
                await handle(ctx, event)
            except Exception:  # one bad event must not stop completions
                log.exception("could not apply %s for %s", topic, event.metadata)
