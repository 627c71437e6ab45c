"""The bus side of the manager: run completions, sub-agents, memory, approvals and channel
health.

`agent.run.completed` / `agent.run.failed` (from a run's bridge) finish runs;
`agent.spawn.request` makes a sub-agent run (`_subagents`); `agent.memory.update` changes
the instance's memory (`_memory`); `channel.health.update` (from channel pods) updates the
ClawInstance's channel status.
Which run or instance an event is about comes from the subject the server delivered it
on (`k8sclaw.<topic>.<namespace>.<name>`), which the publisher's credentials confine to
its own run or instance; the payload's metadata is never believed (SPEC §17).
Runs beside the watches and never blocks them: while NATS is unreachable the Pod/Job path
keeps finishing runs, and the durable consumers catch up on what was published meanwhile
(a run already terminal is simply skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from k8sclaw_controllers.manager import (
    _approvals,
    _buscreds,
    _completion,
    _instance,
    _memory,
    _outcome,
    _subagents,
)
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import _events
from k8sclaw_protocol._bus import EventBus

log = logging.getLogger("k8sclaw.controller.bus")
# v2: the consumers of the unscoped subjects (before #13) kept their old filters; new
# names make the controller bind consumers filtered on the scoped subjects.
DURABLE_PREFIX = "k8sclaw-controller-v2"
TOPICS = (
    _events.AGENT_RUN_COMPLETED,
    _events.AGENT_RUN_FAILED,
    _events.CHANNEL_HEALTH_UPDATE,
    _events.AGENT_SPAWN_REQUEST,
    _events.AGENT_MEMORY_UPDATE,
    _events.TOOL_APPROVAL_REQUEST,
    _events.TOOL_APPROVAL_RESPONSE,
)
CLOSE_TIMEOUT = 2.0


def prepare(ctx: Context) -> None:
    """Load the signing seed when the bus is on; a missing seed keeps /readyz at 503."""
    if not ctx.settings.event_bus_url:
        return
    ctx.bus_state.enabled = True
    try:
        ctx.bus_seed = _buscreds.load_seed(ctx.settings.bus_signing_seed_file)
    except _buscreds.SigningKeyError as exc:
        log.error("%s; runs cannot get bus credentials", exc)
        ctx.bus_state.problem = str(exc)


def scope_of(event: _events.Event) -> _events.Scoped | None:
    """(topic, namespace, name) from the delivered subject; None when malformed."""
    if event.subject is None:
        return None
    try:
        return _events.parse_subject(event.subject)
    except ValueError:
        return None


def outcome_of(event: _events.Event) -> _outcome.Outcome:
    """Outcome from an event's data (the agent's result object; untrusted)."""
    data: Any = event.data if isinstance(event.data, dict) else {}
    if event.topic == _events.AGENT_RUN_FAILED and data.get("status") != "error":
        data = {**data, "status": "error"}
    return _outcome.from_payload(data)


_RUN_HANDLERS: dict[str, Callable[[Context, str, str, _events.Event], Awaitable[None]]] = {
    _events.AGENT_SPAWN_REQUEST: _subagents.on_spawn,
    _events.AGENT_MEMORY_UPDATE: _memory.on_update,
    _events.TOOL_APPROVAL_REQUEST: _approvals.on_request,
    _events.TOOL_APPROVAL_RESPONSE: _approvals.on_response,
}
"""Handlers of events about one run (namespace and run from the subject)."""


async def handle(ctx: Context, event: _events.Event) -> None:
    """Apply one bus event: finish a run (unless already terminal) or record channel health."""
    scope = scope_of(event)
    if scope is None:
        log.warning("ignoring an event on unscoped subject %r", event.subject)
        return
    key = (scope.namespace, scope.name)
    if scope.topic == _events.CHANNEL_HEALTH_UPDATE:
        health = _instance.health_of(event.data)
        if key in ctx.state.instances and health is not None:
            await _instance.apply_health(ctx, scope.namespace, scope.name, health)
        return
    handler = _RUN_HANDLERS.get(scope.topic)
    if handler is not None:
        await handler(ctx, scope.namespace, scope.name, event)
        return
    if scope.topic not in (_events.AGENT_RUN_COMPLETED, _events.AGENT_RUN_FAILED):
        return
    if key not in ctx.state.runs or ctx.state.is_terminal(key):
        return
    await _completion.finish(ctx, scope.namespace, scope.name, outcome_of(event))


async def consume(ctx: Context, url: str, seed: str) -> None:
    """Connect as the controller (forever, with back-off) and handle completion events
    until cancelled."""
    bus = await EventBus.connect(
        url, name="k8sclaw-controller", credentials=_buscreds.controller_creds(seed)
    )
    ctx.bus_state.connected = lambda: bus.connected
    ctx.bus_state.problem = f"the event bus at {url} is unreachable"
    ctx.bus = bus
    try:
        await asyncio.gather(*(_consume_topic(ctx, bus, topic) for topic in TOPICS))
    finally:
        ctx.bus = None
        # A drain can wait out nats' 30 s drain timeout on a pending pull; never block exit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bus.close(), CLOSE_TIMEOUT)


async def _consume_topic(ctx: Context, bus: EventBus, topic: str) -> None:
    durable = f"{DURABLE_PREFIX}-{topic.replace('.', '-')}"
    subscription = bus.subscribe(_events.scoped_filter(topic), durable=durable, deliver="all")
    async with subscription:
        async for event in subscription:
            try:
                await handle(ctx, event)
            except Exception:  # one bad event must not stop completions
                log.exception("could not apply %s from %s", topic, event.subject)
