"""The agent's `send_channel_message` reaches only its own chat; button presses never
start runs and go to the approvals handler."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
import yaml

from k8sclaw.installer import MANIFESTS_DIR
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import EventBus, busauth, events, names
from k8sclaw_protocol._chat import InboundMessage
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.harness.rbac_users import User, bind, configuration_as, grant, make_user
from tests.router._harness import FAST, World, eventually, routing, world


async def _send_as_run(w: World, run: str, uid: str, data: dict[str, object]) -> None:
    """Publish as the run's bridge does, with the run's own bus identity."""
    bus = await EventBus.connect(
        w.nats.url,
        credentials=w.nats.run_creds(w.ns, run, uid),
        inbox_prefix=busauth.scoped_inbox("run", w.ns, run),
        manage_stream=False,
        backoff=FAST,
    )
    try:
        event = events.Event.new(events.CHANNEL_MESSAGE_SEND, data)
        await bus.publish(event, scope=(w.ns, run), retry=True)
    finally:
        await bus.close()


async def test_send_channel_message_goes_only_to_the_runs_own_chat(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        await w.say("do it", "m-1", chat="c-7")
        (run,) = await eventually(w.runs, what="the run")
        uid = run.metadata.uid or ""
        await _send_as_run(
            w, run.name, uid, {"channel": "telegram", "chatId": "c-other", "text": "spam"}
        )
        await _send_as_run(w, run.name, uid, {"channel": "slack", "text": "elsewhere"})
        await _send_as_run(w, run.name, uid, {"channel": "telegram", "text": "progress: 50%"})
        await eventually(lambda: router.stats.sends_delivered == 1, what="the allowed send")
        await eventually(lambda: router.stats.dropped == 2, what="two drops")
        await eventually(w.texts, what="the delivery observed")
        assert [(d.text, d.chat_id) for d in w.texts()] == [("progress: 50%", "c-7")]
        notes = await w.kube.items(_kube.core(w.ns, "events"))
        reasons = [n["reason"] for n in notes if n["involvedObject"]["name"] == run.name]
        assert reasons.count("ChannelMessageDropped") == 2


async def test_button_presses_go_to_on_action_and_start_no_run(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    seen: list[tuple[str, str, InboundMessage]] = []

    async def on_action(namespace: str, instance: str, message: InboundMessage) -> None:
        seen.append((namespace, instance, message))

    async with world(nats, kube, tmp_path) as w, routing(w, on_action=on_action):
        action = {"approvalId": "ap-1", "decision": "approve"}
        await w.say("", "cb-1", action=action)
        await eventually(lambda: seen, what="the press")
        assert seen[0][:2] == (w.ns, "alice")
        assert seen[0][2].action is not None and seen[0][2].action.approval_id == "ap-1"
        assert await w.runs() == []


async def test_a_policy_may_open_other_chats_explicitly(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        policy = {
            "apiVersion": names.GROUP_VERSION,
            "kind": "ClawPolicy",
            "metadata": {"name": "open"},
            "spec": {"featureGates": {"cross-chat-messages": True}},
        }
        await w.kube.create(_kube.claw(w.ns, "clawpolicies"), policy)
        patch = {"spec": {"policyRef": "open"}}
        await w.kube.patch(_kube.claw(w.ns, "clawinstances", "alice"), patch)
        await w.say("do it", "m-1", chat="c-7")
        (run,) = await eventually(w.runs, what="the run")
        data = {"channel": "telegram", "chatId": "c-other", "text": "announcement"}
        await _send_as_run(w, run.name, run.metadata.uid or "", data)
        await eventually(lambda: router.stats.sends_delivered == 1, what="the send")
        assert [(d.text, d.chat_id) for d in w.texts()] == [("announcement", "c-other")]


@pytest.fixture
def apiserver_role(kube: KubeEnv) -> Iterator[str]:
    """The shipped `k8sclaw-apiserver` ClusterRole, created under a unique name."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    docs = yaml.safe_load_all((MANIFESTS_DIR / "rbac" / "apiserver.yaml").read_text())
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    name = f"{role['metadata']['name']}-{secrets.token_hex(3)}"
    rbac.create_cluster_role({"metadata": {"name": name}, "rules": role["rules"]})
    yield name
    rbac.delete_cluster_role(name)


def _as(kube: KubeEnv, user: User) -> _kube.Kube:
    """A client holding only `user`'s token (the cluster's address and trust kept)."""
    admin = _kube.load_configuration(str(kube.kubeconfig))
    return _kube.Kube.connect(configuration_as(admin, user))


async def test_drop_events_only_where_rbac_allows_and_a_refusal_is_logged(
    nats: NatsServer,
    kube: KubeEnv,
    tmp_path: Path,
    apiserver_role: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = make_user(kube.api_client, kube.namespace, "router")
    bind(kube.api_client, kube.namespace, user, "ClusterRole", apiserver_role)
    client = _as(kube, user)
    try:
        async with world(nats, kube, tmp_path) as w, routing(w, kube=client) as router:
            router.drop_notes.access_seconds = 0.0  # ask again each time (granted below)
            await w.say("do it", "m-1", chat="c-7")
            (run,) = await eventually(w.runs, what="the run (made with the shipped role)")
            uid = run.metadata.uid or ""
            with caplog.at_level(logging.WARNING, logger="k8sclaw.router"):
                await _send_as_run(w, run.name, uid, {"channel": "slack", "text": "elsewhere"})
                await eventually(
                    lambda: router.drop_notes.skipped + router.drop_notes.posted == 1,
                    what="the refusal",
                )
            assert router.drop_notes.posted == 0, "the Event was created without a grant"
            assert "may not create Events in namespace" in caplog.text
            # Not fatal: the router still delivers what is allowed.
            await _send_as_run(w, run.name, uid, {"channel": "telegram", "text": "still here"})
            await eventually(lambda: router.stats.sends_delivered == 1, what="the next send")
            assert not await _dropped_notes(w, run.name)
            grant(
                kube.api_client,
                kube.namespace,
                user,
                [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}],
                name="router-events",
            )
            await _send_as_run(w, run.name, uid, {"channel": "slack", "text": "again"})
            await eventually(lambda: router.drop_notes.posted == 1, what="the Event, granted")
            assert len(await _dropped_notes(w, run.name)) == 1
    finally:
        await client.close()


async def _dropped_notes(w: World, run: str) -> list[dict[str, object]]:
    notes = await w.kube.items(_kube.core(w.ns, "events"))
    return [
        n
        for n in notes
        if n["involvedObject"]["name"] == run and n["reason"] == "ChannelMessageDropped"
    ]
