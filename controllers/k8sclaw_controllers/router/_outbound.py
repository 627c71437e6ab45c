"""The agent's `send_channel_message`: hostile input, delivered only to the run's own chat.

A run's bridge publishes on `channel.message.send.<ns>.<run>`; the namespace and run come
from that subject (the server authorised it), the destination from the run's own
annotations (set by the router when it created the run). The payload may name a chat and
a channel; anything but the run's source chat and channel is dropped with a warning and
a Kubernetes Event on the run, as is a message from a run no chat started, unless the
instance's ClawPolicy opts in with `featureGates.cross-chat-messages: true` (then a
payload `chatId` on a channel of the instance is honoured).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from k8sclaw_controllers.manager import _events, _kube
from k8sclaw_controllers.router import _replies, _runs
from k8sclaw_protocol import (
    AgentRun,
    ClawPolicy,
    Event,
    EventBus,
    OutboundMessage,
    events,
    names,
)
from k8sclaw_protocol._chat import MAX_REPLY_BYTES, Delivery

log = logging.getLogger("k8sclaw.router")
COMPONENT = "k8sclaw-router"


class RefusedError(Exception):
    """The message may not be delivered (the text says why, for the log and the Event)."""


CROSS_CHAT_GATE = "cross-chat-messages"


def destination_check(run: AgentRun, message: OutboundMessage) -> None:
    """Raise `RefusedError` unless `message` goes to the run's own source chat and channel."""
    if not _replies.is_chat_run(run):
        raise RefusedError("the run was not started from a chat, so it has no chat to message")
    meta = run.metadata
    channel = meta.labels[names.LABEL_SOURCE_CHANNEL]
    chat = meta.annotations[names.ANNOTATION_SOURCE_CHAT]
    if message.channel != channel:
        raise RefusedError(f"channel {message.channel!r} is not the run's channel {channel!r}")
    if message.chat_id not in (None, "", chat):
        raise RefusedError("chatId names another chat; a run may message only the chat it serves")


async def handle_send(bus: EventBus, kube: _kube.Kube, event: Event) -> bool:
    """Deliver one `channel.message.send` event (True), or drop it with a warning and an
    Event on the run (False)."""
    try:
        scoped = events.parse_subject(event.subject or "")
    except ValueError:
        log.warning("send_channel_message on unexpected subject %r dropped", event.subject)
        return False
    try:
        body = await kube.get(_kube.claw(scoped.namespace, _runs.PLURAL, scoped.name))
    except _kube.NotFoundError:
        log.warning("send_channel_message from unknown run %s/%s dropped", *_scope(scoped))
        return False
    run = AgentRun.from_wire(body)
    try:
        message = OutboundMessage.model_validate(event.data)
    except ValidationError:
        await _refuse(kube, body, run, "the message is malformed")
        return False
    text = message.text.encode()[:MAX_REPLY_BYTES].decode(errors="ignore")
    try:
        destination_check(run, message)
        delivery = _replies.delivery_for(run, f"send-{event.sequence}", "text", text)
    except RefusedError as exc:
        if not (message.chat_id and await _cross_chat_allowed(kube, run)):
            await _refuse(kube, body, run, str(exc))
            return False
        try:
            delivery = _elsewhere(message, f"send-{event.sequence}", text)
        except ValidationError:
            await _refuse(kube, body, run, f"channel {message.channel!r} is not a channel type")
            return False
    await _replies.publish(bus, run.namespace, run.spec.instance_ref, delivery, retry=True)
    return True


async def _cross_chat_allowed(kube: _kube.Kube, run: AgentRun) -> bool:
    """The run's instance's ClawPolicy sets `featureGates.cross-chat-messages: true`."""
    try:
        instance = await _runs.get_instance(kube, run.namespace, run.spec.instance_ref)
        if instance is None or not instance.spec.policy_ref:
            return False
        path = _kube.claw(run.namespace, ClawPolicy.info.plural, instance.spec.policy_ref)
        policy = ClawPolicy.from_wire(await kube.get(path))
    except (_kube.KubeError, ValidationError):
        return False
    return policy.spec.feature_gates.get(CROSS_CHAT_GATE) is True


def _elsewhere(message: OutboundMessage, delivery_id: str, text: str) -> Delivery:
    """A delivery to the chat the payload names (only under the opt-in gate)."""
    return Delivery.model_validate(
        {"id": delivery_id, "channel": message.channel, "chatId": message.chat_id, "text": text}
    )


def _scope(scoped: events.Scoped) -> tuple[str, str]:
    return scoped.namespace, scoped.name


async def _refuse(kube: _kube.Kube, body: dict[str, object], run: AgentRun, reason: str) -> None:
    log.warning("send_channel_message of run %s/%s dropped: %s", run.namespace, run.name, reason)
    note = _events.event_body(body, "Warning", "ChannelMessageDropped", reason)
    note["source"] = {"component": COMPONENT}
    note["reportingComponent"] = COMPONENT
    try:
        await kube.create(_kube.core(run.namespace, "events"), note, read=False)
    except (_kube.KubeError, OSError) as exc:
        log.warning("cannot post the Event for run %s/%s: %s", run.namespace, run.name, exc)
