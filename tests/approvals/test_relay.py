"""The chat relay on real NATS (as the router's identity) and the kube emulator: a
chat-started run's approval request becomes a card in its thread; presses by approvers
become decisions, others get a short refusal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers.approvals import ApprovalRelay
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import ApprovalRequest, Event, EventBus, Subscription, events, names
from k8sclaw_protocol._chat import InboundMessage
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.policy._builders import run_body

INSTANCE, RUN, APPROVAL = "alpha", "chat-run", "c0ffee"


def _setup(kube: KubeEnv, *, from_chat: bool = True, listed: bool = True) -> None:
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    args = (names.GROUP, names.API_VERSION, kube.namespace)
    channel = {"type": "telegram", "configRef": {"secret": "tg"}, "approvers": ["42"]}
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": INSTANCE},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}, "channels": [channel]},
    }
    custom.create_namespaced_custom_object(*args, "clawinstances", instance)
    run = run_body(name=RUN, namespace=kube.namespace)
    run["metadata"]["labels"] = {names.LABEL_INSTANCE: INSTANCE}
    if from_chat:
        run["metadata"]["labels"][names.LABEL_SOURCE_CHANNEL] = "telegram"
        run["metadata"]["annotations"] = {
            names.ANNOTATION_SOURCE_CHAT: "-100123",
            names.ANNOTATION_SOURCE_THREAD: "7",
        }
    custom.create_namespaced_custom_object(*args, "agentruns", run)
    if listed:
        _list_pending(kube)


def _list_pending(kube: KubeEnv) -> None:
    """The controller records the request in the run's status."""
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    pending = {"id": APPROVAL, "tool": "execute_command", "summary": "rm -rf /tmp/x"}
    status = {"status": {"phase": "Running", "pendingApprovals": [pending]}}
    custom.patch_namespaced_custom_object_status(
        names.GROUP, names.API_VERSION, kube.namespace, "agentruns", RUN, status
    )


@dataclass
class Relayed:
    relay: ApprovalRelay
    control: EventBus
    namespace: str


@contextlib.asynccontextmanager
async def _relay(kube: KubeEnv, nats: NatsServer) -> AsyncIterator[Relayed]:
    control = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    router = await EventBus.connect(nats.url, credentials=nats.creds_for("router"))
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    relay = ApprovalRelay(router, client)
    task = asyncio.create_task(relay.run())
    try:
        yield Relayed(relay, control, kube.namespace)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
        await router.close()
        await control.close()


async def _ask(r: Relayed) -> None:
    request = ApprovalRequest(id=APPROVAL, tool="execute_command", summary="rm -rf /tmp/x")
    event = Event.new(events.TOOL_APPROVAL_REQUEST, request.model_dump(by_alias=True))
    await r.control.publish(event, scope=(r.namespace, RUN))


def _press(sender: str, decision: str = "approve", chat: str = "-100123") -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "telegram",
            "messageId": f"cb-{sender}-{decision}",
            "chatId": chat,
            "threadId": "7",
            "senderId": sender,
            "senderName": f"user {sender}",
            "action": {"approvalId": APPROVAL, "decision": decision},
        }
    )


def _deliveries(r: Relayed) -> Subscription:
    return r.control.subscribe(
        events.scoped_filter(events.CHANNEL_MESSAGE_DELIVER, r.namespace, INSTANCE),
        deliver="all",
    )


async def test_a_card_goes_to_the_source_thread_and_only_approvers_decide(
    kube: KubeEnv, nats: NatsServer
) -> None:
    _setup(kube)
    async with _relay(kube, nats) as r, _deliveries(r) as deliveries:
        await _ask(r)
        card = await deliveries.next(10)
        assert card.data["kind"] == "approval"
        assert (card.data["chatId"], card.data["threadId"]) == ("-100123", "7")
        assert card.data["approval"] == {
            "approvalId": APPROVAL,
            "run": RUN,
            "tool": "execute_command",
            "summary": "rm -rf /tmp/x",
        }
        await r.relay.on_action(r.namespace, INSTANCE, _press("666"))
        refused = await deliveries.next(10)
        assert "Only the approvers" in refused.data["text"]
        responses = events.scoped_filter(events.TOOL_APPROVAL_RESPONSE, r.namespace, RUN)
        async with r.control.subscribe(responses, deliver="all") as decisions:
            await r.relay.on_action(r.namespace, INSTANCE, _press("42", "deny"))
            decided = await decisions.next(10)
            assert (await deliveries.next(10)).data["text"] == "Denied by user 42."
            # the non-approver's press published nothing before the approver's
            assert decided.data["decidedBy"] == "telegram:42"
            assert (decided.data["decision"], decided.data["via"]) == ("deny", "channel:telegram")


async def test_presses_from_another_chat_and_runs_not_from_a_chat_get_nothing(
    kube: KubeEnv, nats: NatsServer
) -> None:
    _setup(kube, from_chat=False)
    async with _relay(kube, nats) as r, _deliveries(r) as deliveries:
        await _ask(r)
        await r.relay.on_action(r.namespace, INSTANCE, _press("42", chat="-999"))
        only: Any = await deliveries.next(10)
        assert only.data["kind"] == "text"  # no card: the run did not come from a chat
        assert "no longer pending" in only.data["text"]
        with pytest.raises(TimeoutError):
            await deliveries.next(0.5)  # and no card after it either


async def test_the_card_waits_until_the_controller_lists_the_approval(
    kube: KubeEnv, nats: NatsServer
) -> None:
    """The relay and the controller read the same request; a card posted before the run's
    status lists it could be pressed at once and answered "no longer pending"."""
    _setup(kube, listed=False)
    async with _relay(kube, nats) as r, _deliveries(r) as deliveries:
        await _ask(r)
        with pytest.raises(TimeoutError):
            await deliveries.next(0.5)  # not decidable yet: no card
        _list_pending(kube)
        card = await deliveries.next(10)
        assert card.data["kind"] == "approval"
        await r.relay.on_action(r.namespace, INSTANCE, _press("42"))  # pressed at once
        assert (await deliveries.next(10)).data["text"] == "Approved by user 42."
