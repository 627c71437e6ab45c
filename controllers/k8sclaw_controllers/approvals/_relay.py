"""Approval cards in the chat a run came from, and the presses on them.

`run()` consumes `tool.approval.request.<ns>.<run>`: for a run started from a chat (the
router's `source-channel` label and `source-chat`/`source-thread` annotations) it posts
a `Delivery(kind="approval")` card in that chat and thread on
`channel.message.deliver.<ns>.<instance>`, once the run's status lists the approval
(the controller reads the same request; a card shown earlier could be pressed and told
"no longer pending"). Runs that did not come from a chat are left to the TUI, the API and
`kubectl annotate`.

`on_action(ns, instance, message)` (called by the router for a button press): the run is
found by the approval id among the instance's runs pending it; the press must come from
the run's own channel and chat, and from a sender listed in that channel's `approvers`
(no list: nobody may decide from the chat). A refused press gets a short reply; an
accepted one publishes the decision (`decidedBy: <channel>:<sender>`, `via:
channel:<channel>`) on `tool.approval.response.<ns>.<run>`. Identity is the sender id
the channel pod read from the platform, the instance from the bus subject it arrived on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from k8sclaw_controllers.manager import _approvals, _kube
from k8sclaw_protocol import (
    AgentRun,
    ApprovalDecision,
    ApprovalRequest,
    ClawInstance,
    Event,
    EventBus,
    events,
    names,
)
from k8sclaw_protocol._chat import ApprovalCard, Delivery, InboundMessage

log = logging.getLogger("k8sclaw.approvals")
DURABLE: Final = "k8sclaw-approval-relay"
"""The relay's durable consumer of approval requests."""
PENDING_WAIT: Final = 10.0
"""Seconds a card waits for the controller to list its approval in the run's status (both
read the same request): a press on a card shown earlier would be told "no longer
pending". After this long the card is posted anyway."""
PENDING_POLL: Final = 0.1
Body = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """Where a chat-started run came from."""

    channel: str
    chat_id: str
    thread_id: str | None


def source_of(run: Body) -> Source | None:
    """The run's source chat from its label and annotations; None if not from a chat."""
    meta = run.get("metadata") or {}
    channel = (meta.get("labels") or {}).get(names.LABEL_SOURCE_CHANNEL)
    annotations = meta.get("annotations") or {}
    chat = annotations.get(names.ANNOTATION_SOURCE_CHAT)
    if not channel or not chat:
        return None
    return Source(channel, chat, annotations.get(names.ANNOTATION_SOURCE_THREAD) or None)


def _pending_ids(run: Body) -> set[str]:
    status = run.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return set()
    return {str(item.get("id")) for item in status.get("pendingApprovals") or []}


class ApprovalRelay:
    """Posts approval cards to source chats and turns presses into decisions."""

    def __init__(self, bus: EventBus, kube: _kube.Kube) -> None:
        self.bus = bus
        self.kube = kube

    async def run(self) -> None:
        """Consume approval requests until cancelled; one bad request never stops it."""
        subject = events.scoped_filter(events.TOOL_APPROVAL_REQUEST)
        async with self.bus.subscribe(subject, durable=DURABLE, deliver="all") as sub:
            async for event in sub:
                try:
                    await self.on_request(event)
                except Exception:
                    log.exception("could not relay the approval request on %s", event.subject)

    async def on_request(self, event: Event) -> None:
        """Post the card for one request (run and namespace from the subject)."""
        scope = events.parse_subject(event.subject or "")
        try:
            request = ApprovalRequest.model_validate(event.data)
        except ValidationError:
            log.warning("malformed approval request on %s dropped", event.subject)
            return
        try:
            run = await self.kube.get(_kube.claw(scope.namespace, "agentruns", scope.name))
        except _kube.NotFoundError:
            return
        source = source_of(run)
        if source is None:
            return
        listed = await self._until_pending(scope.namespace, scope.name, request.id, run)
        if listed is None:
            return
        card = ApprovalCard.model_validate(
            {
                "approvalId": request.id,
                "run": scope.name,
                "tool": request.tool,
                "summary": request.summary,
            }
        )
        delivery = Delivery.model_validate(
            {
                "id": f"approval-{scope.name}-{request.id}",
                "channel": source.channel,
                "chatId": source.chat_id,
                "threadId": source.thread_id,
                "kind": "approval",
                "approval": card.model_dump(by_alias=True),
            }
        )
        instance = AgentRun.from_wire(listed).spec.instance_ref
        await self._deliver(scope.namespace, instance, delivery)

    async def _until_pending(
        self, namespace: str, name: str, approval_id: str, run: Body
    ) -> Body | None:
        """`run` once its status lists `approval_id` (bounded by PENDING_WAIT; then as it
        is); None when the run finished or went away meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PENDING_WAIT
        while approval_id not in _pending_ids(run) and loop.time() < deadline:
            if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return None
            await asyncio.sleep(PENDING_POLL)
            try:
                run = await self.kube.get(_kube.claw(namespace, "agentruns", name))
            except _kube.NotFoundError:
                return None
        return run

    async def on_action(self, namespace: str, instance: str, message: InboundMessage) -> None:
        """Handle one button press heard by `instance`'s channel pod."""
        action = message.action
        if action is None:
            return
        run = await self._run_pending(namespace, instance, action.approval_id)
        source = source_of(run) if run is not None else None
        if run is None or source is None:
            await self._reply(namespace, instance, message, "This approval is no longer pending.")
            return
        if (source.channel, source.chat_id) != (message.channel, message.chat_id):
            log.warning("press on approval %s outside its chat ignored", action.approval_id)
            return
        if message.sender_id not in await self._approvers(namespace, instance, message.channel):
            text = "Only the approvers listed on this channel can decide on tool calls."
            await self._reply(namespace, instance, message, text)
            return
        decision = ApprovalDecision(
            id=action.approval_id,
            decision=action.decision,
            decided_by=f"{message.channel}:{message.sender_id}",
            via=f"channel:{message.channel}",
            decided_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        await _approvals.publish(self.bus, namespace, run["metadata"]["name"], decision)
        verb = "Approved" if action.decision == "approve" else "Denied"
        who = message.sender_name or message.sender_id
        await self._reply(namespace, instance, message, f"{verb} by {who}.")

    async def _run_pending(self, namespace: str, instance: str, approval_id: str) -> Body | None:
        """The instance's run that waits on `approval_id`, if any."""
        selector = f"{names.LABEL_INSTANCE}={instance}"
        runs = await self.kube.items(_kube.claw(namespace, "agentruns"), selector)
        return next((run for run in runs if approval_id in _pending_ids(run)), None)

    async def _approvers(self, namespace: str, instance: str, channel: str) -> set[str]:
        try:
            body = await self.kube.get(_kube.claw(namespace, "clawinstances", instance))
        except _kube.NotFoundError:
            return set()
        spec = ClawInstance.from_wire(body).spec
        found = next((c for c in spec.channels if c.type == channel), None)
        return set(found.approvers or []) if found is not None else set()

    async def _reply(
        self, namespace: str, instance: str, message: InboundMessage, text: str
    ) -> None:
        delivery = Delivery.model_validate(
            {
                "id": f"approval-reply-{message.message_id}"[:256],
                "channel": message.channel,
                "chatId": message.chat_id,
                "threadId": message.thread_id,
                "text": text,
            }
        )
        await self._deliver(namespace, instance, delivery)

    async def _deliver(self, namespace: str, instance: str, delivery: Delivery) -> None:
        payload = json.loads(delivery.model_dump_json(by_alias=True, exclude_none=True))
        event = Event.new(events.CHANNEL_MESSAGE_DELIVER, payload)
        msg_id = f"deliver:{namespace}:{instance}:{delivery.id}"
        await self.bus.publish(
            event, scope=(namespace, instance), msg_id=msg_id, retry=True, give_up_after=30
        )
