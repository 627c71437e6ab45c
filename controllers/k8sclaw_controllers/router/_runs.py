"""Turn one chat message into one AgentRun, through the shared run builder.

The run is labelled with its source channel and conversation and annotated with the chat,
thread, sender and message, which is everything the router needs later to reply (it reads
those back from the run, never from anything an agent pod sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.router._keys import Conversation, run_name
from k8sclaw_protocol import AgentRun, ClawInstance, HistoryTurn, build_run, names
from k8sclaw_protocol._chat import InboundMessage

PLURAL = AgentRun.info.plural


def chat_run(
    instance: ClawInstance,
    conversation: Conversation,
    message: InboundMessage,
    history: list[HistoryTurn],
) -> AgentRun:
    """The AgentRun of `message` (deterministic name, stable session key, history)."""
    run = build_run(
        instance,
        message.text,
        source="router",
        name=run_name(conversation, message.message_id),
        session_key=conversation.session_key,
        labels={
            names.LABEL_SOURCE_CHANNEL: conversation.channel,
            names.LABEL_CHAT_SESSION: conversation.label,
        },
    )
    annotations = {
        names.ANNOTATION_SOURCE_CHAT: conversation.chat_id,
        names.ANNOTATION_SOURCE_SENDER: message.sender_id,
        names.ANNOTATION_SOURCE_MESSAGE: message.message_id,
    }
    if conversation.thread_id:
        annotations[names.ANNOTATION_SOURCE_THREAD] = conversation.thread_id
    run.metadata.annotations.update(annotations)
    run.spec.history = history or None
    return run


async def create_once(kube: _kube.Kube, run: AgentRun) -> AgentRun:
    """Create `run`; when it exists already (a redelivered message), the stored one."""
    path = _kube.claw(run.namespace, PLURAL)
    try:
        return AgentRun.from_wire(await kube.create(path, run.to_wire()))
    except _kube.ConflictError:
        return AgentRun.from_wire(await kube.get(_kube.claw(run.namespace, PLURAL, run.name)))


async def get_instance(kube: _kube.Kube, namespace: str, name: str) -> ClawInstance | None:
    """The instance a message is for; None when it does not exist (any more)."""
    try:
        body = await kube.get(_kube.claw(namespace, ClawInstance.info.plural, name))
    except _kube.NotFoundError:
        return None
    return ClawInstance.from_wire(body)


INSTANCE_TTL = 2.0
"""Seconds an instance read is reused: a burst of messages reads it once, and an edit
(model, skills) reaches chat runs within this long."""


class InstanceCache:
    """Instance reads shared by a burst of messages (one GET per instance per TTL)."""

    def __init__(self, kube: _kube.Kube) -> None:
        self._kube = kube
        self._entries: dict[tuple[str, str], tuple[float, asyncio.Task[ClawInstance | None]]] = {}

    async def get(self, namespace: str, name: str) -> ClawInstance | None:
        key, now = (namespace, name), time.monotonic()
        entry = self._entries.get(key)
        if entry is None or entry[0] < now:
            task = asyncio.ensure_future(get_instance(self._kube, namespace, name))
            entry = self._entries[key] = (now + INSTANCE_TTL, task)
        try:
            return await asyncio.shield(entry[1])
        except Exception:
            self._entries.pop(key, None)  # a failed read is not reused
            raise


async def annotate(kube: _kube.Kube, run: AgentRun, key: str) -> None:
    """Mark `run` with `key: "true"` (reply sent, queued notice sent)."""
    patch = {"metadata": {"annotations": {key: "true"}}}
    with contextlib.suppress(_kube.NotFoundError):  # deleted meanwhile: nothing to mark
        await kube.patch(_kube.claw(run.namespace, PLURAL, run.name), patch, read=False)
