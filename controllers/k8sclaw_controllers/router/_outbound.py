"""The agent's `send_channel_message`: hostile input, delivered only to the run's own chat.

A run's bridge publishes on `channel.message.send.<ns>.<run>`; the namespace and run come
from that subject (the server authorised it), the destination from the run's own
annotations (set by the router when it created the run). The payload may name a chat and
a channel; anything but the run's source chat and channel is dropped with a warning and
a Kubernetes Event on the run, as is a message from a run no chat started, unless the
instance's ClawPolicy opts in with `featureGates.cross-chat-messages: true` (then a
payload `chatId` on a channel of the instance is honoured).

The router's shipped ClusterRole has no Event create: it posts the Event only in
namespaces that grant it (`DropNotes`), asking first with a SelfSubjectAccessReview (every
authenticated identity may) and remembering the answer per namespace for
`ACCESS_SECONDS`; a create refused with 403 anyway counts as a "no". Where it may not,
the warning in the log is the record. Failing to post an Event never fails the send.
"""

from __future__ import annotations

import logging
import time
from typing import Final

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
ACCESS_SECONDS: Final = 300.0
"""How long the answer to "may the router create Events in this namespace?" is reused."""
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class DropNotes:
    """Posts `ChannelMessageDropped` Events where RBAC allows it, remembering the answers."""

    def __init__(self, access_seconds: float = ACCESS_SECONDS) -> None:
        self.access_seconds = access_seconds
        self._access: dict[str, tuple[bool, float]] = {}  # namespace -> (may, until)
        self.posted = 0
        self.skipped = 0

    async def may_create(self, kube: _kube.Kube, namespace: str) -> bool:
        """RBAC lets the router create Events in `namespace` (asked, then remembered)."""
        known = self._access.get(namespace)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "create",
                    "group": "",
                    "resource": "events",
                }
            },
        }
        answer = await kube.create(_SSAR, review)
        may = bool((answer.get("status") or {}).get("allowed"))
        self._remember(namespace, may)
        return may

    def _remember(self, namespace: str, may: bool) -> None:
        self._access[namespace] = (may, time.monotonic() + self.access_seconds)
        if not may:
            log.warning(
                "the router may not create Events in namespace %s (RBAC); dropped messages "
                "there are recorded in this log only",
                namespace,
            )

    async def post(
        self, kube: _kube.Kube, body: dict[str, object], run: AgentRun, reason: str
    ) -> None:
        """The Event on `run` where RBAC allows one; never raises."""
        ns = run.namespace
        try:
            if not await self.may_create(kube, ns):
                self.skipped += 1
                return
            note = _events.event_body(body, "Warning", "ChannelMessageDropped", reason)
            note["source"] = {"component": COMPONENT}
            note["reportingComponent"] = COMPONENT
            await kube.create(_kube.core(ns, "events"), note, read=False)
        except _kube.KubeError as exc:
            if exc.status == 403:  # allowed a moment ago, or the review itself refused
                self._remember(ns, False)
                self.skipped += 1
                return
            log.warning("cannot post the Event for run %s/%s: %s", ns, run.name, exc)
        except Exception as exc:  # an Event is a courtesy: never fail the send handling
            log.warning("cannot post the Event for run %s/%s: %s", ns, run.name, exc)
        else:
            self.posted += 1


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


async def handle_send(
    bus: EventBus, kube: _kube.Kube, event: Event, notes: DropNotes | None = None
) -> bool:
    """Deliver one `channel.message.send` event (True), or drop it with a warning and an
    Event on the run where RBAC allows one (False)."""
    notes = notes or DropNotes()
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
        await _refuse(notes, kube, body, run, "the message is malformed")
        return False
    text = message.text.encode()[:MAX_REPLY_BYTES].decode(errors="ignore")
    try:
        destination_check(run, message)
        delivery = _replies.delivery_for(run, f"send-{event.sequence}", "text", text)
    except RefusedError as exc:
        if not (message.chat_id and await _cross_chat_allowed(kube, run)):
            await _refuse(notes, kube, body, run, str(exc))
            return False
        try:
            delivery = _elsewhere(message, f"send-{event.sequence}", text)
        except ValidationError:
            await _refuse(
                notes, kube, body, run, f"channel {message.channel!r} is not a channel type"
            )
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


async def _refuse(
    notes: DropNotes, kube: _kube.Kube, body: dict[str, object], run: AgentRun, reason: str
) -> None:
    log.warning("send_channel_message of run %s/%s dropped: %s", run.namespace, run.name, reason)
    await notes.post(kube, body, run, reason)
