"""The controller as the policy's second line (no webhook installed here): the shared
engine's rules, the concurrency queue, NetworkPolicies per run namespace, channel health."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers import netpol
from k8sclaw_protocol import Event, EventBus, busauth, events
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv


def policy_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": spec}


def queued(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return phase(obj) == "Pending" and any(
        c["type"] == "Queued" and c["status"] == "True" and c["reason"] == "ConcurrencyLimit"
        for c in conditions
    )


async def test_over_the_concurrency_limit_a_run_waits_and_starts_when_a_slot_frees(
    kube: KubeEnv,
) -> None:
    create(kube, "clawpolicies", policy_body("one", subagentPolicy={"maxConcurrent": 1}))
    create(kube, "clawinstances", instance_body(policyRef="one"))
    batch = kubernetes.client.BatchV1Api(kube.api_client)
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("first"))
        await wait_run(kube, "first", lambda o: phase(o) == "Running")
        create(kube, "agentruns", run_body("second"))
        waiting = await wait_run(kube, "second", queued)
        message = {c["type"]: c for c in waiting["status"]["conditions"]}["Queued"]["message"]
        assert "the limit is 1" in message
        assert [j.metadata.name for j in batch.list_namespaced_job(kube.namespace).items] == [
            "first"
        ]
        _harness.custom(kube).delete_namespaced_custom_object(
            _harness.GROUP, _harness.VERSION, kube.namespace, "agentruns", "first"
        )
        started = await wait_run(kube, "second", lambda o: phase(o) == "Running")
        assert not any(c["type"] == "Queued" for c in started["status"]["conditions"])
        jobs = await _harness.wait_for(
            batch.list_namespaced_job,
            lambda j: j.metadata.name == "second",
            namespace=kube.namespace,
        )
        assert jobs.metadata.name == "second"
        # The deleted run's Job went with it (no finalizer: deleted in the foreground).
        left = {j.metadata.name for j in batch.list_namespaced_job(kube.namespace).items}
        assert "first" not in left or _terminating(batch, kube.namespace, "first")


def _terminating(api: kubernetes.client.BatchV1Api, namespace: str, name: str) -> bool:
    try:
        return api.read_namespaced_job(name, namespace).metadata.deletion_timestamp is not None
    except kubernetes.client.ApiException as exc:
        return exc.status == 404


async def test_policy_rules_refuse_a_run_and_network_policies_select_the_real_pod(
    kube: KubeEnv,
) -> None:
    network = {"allowedEgress": [{"host": "10.0.0.0/8", "port": 443}]}
    create(
        kube,
        "clawpolicies",
        policy_body("strict", featureGates={"code-execution": False}, networkPolicy=network),
    )
    instance = create(kube, "clawinstances", instance_body(policyRef="strict"))
    core = kubernetes.client.CoreV1Api(kube.api_client)
    nets = kubernetes.client.NetworkingV1Api(kube.api_client)
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("sbx", sandbox={"enabled": True}))
        refused = await wait_run(kube, "sbx", lambda o: phase(o) == "Failed")
        create(kube, "agentruns", run_body("ok"))
        await wait_run(kube, "ok", lambda o: phase(o) == "Running")
        pod = await _harness.wait_for(
            core.list_namespaced_pod,
            lambda p: True,
            namespace=kube.namespace,
            label_selector="k8sclaw.io/agent-run=ok",
        )
    error = refused["status"]["error"]
    assert 'denied by ClawPolicy "strict"' in error
    assert "featureGates.code-execution" in error
    applied = {
        p.metadata.name: kube.api_client.sanitize_for_serialization(p)
        for p in nets.list_namespaced_network_policy(kube.namespace).items
    }
    assert sorted(applied) == ["k8sclaw-agent-alice", "k8sclaw-sandbox-alice"]
    agent, sandbox = applied["k8sclaw-agent-alice"], applied["k8sclaw-sandbox-alice"]
    assert agent["metadata"]["ownerReferences"][0]["uid"] == instance["metadata"]["uid"]
    labels = pod.metadata.labels
    assert netpol.selects(agent["spec"]["podSelector"], labels)
    assert not netpol.selects(sandbox["spec"]["podSelector"], labels)
    blocks = [
        peer["ipBlock"]["cidr"]
        for rule in agent["spec"]["egress"]
        for peer in rule.get("to") or []
        if "ipBlock" in peer
    ]
    # First the model endpoint (no baseURL: OpenAI's public API, `netpol.public_rule`).
    assert blocks == ["0.0.0.0/0", "::/0", "10.0.0.0/8"]


@pytest.mark.slow
async def test_channel_health_events_update_the_instance_channel_status(
    kube: KubeEnv, nats: Any
) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(
        kube.namespace, {"metadata": {"name": "tg"}, "stringData": {"TELEGRAM_BOT_TOKEN": "t"}}
    )
    channels = [{"type": "telegram", "configRef": {"secret": "tg"}}]
    create(kube, "clawinstances", instance_body(channels=channels))
    channel = busauth.channel_permissions(kube.namespace, "alice")
    bus = await EventBus.connect(
        nats.url,
        name="test-channel",
        credentials=nats.creds(channel),
        inbox_prefix=channel.inbox_prefix,
        manage_stream=False,
    )
    scope = (kube.namespace, "alice")
    try:
        settings = _harness.settings_for(kube, **nats.controller_settings())
        async with _harness.running(settings):
            await _wait_instance(kube, lambda s: _channel(s).get("status") == "Disconnected")
            # Play the Deployment controller: one ready replica.
            kubernetes.client.AppsV1Api(kube.api_client).patch_namespaced_deployment_status(
                "alice-channel-telegram", kube.namespace, {"status": {"readyReplicas": 1}}
            )
            report = {"channel": "telegram", "state": "Disconnected", "message": "token revoked"}
            health = Event.new(events.CHANNEL_HEALTH_UPDATE, report)
            await bus.publish(health, scope=scope, retry=True)
            status = await _wait_instance(
                kube, lambda s: _channel(s).get("message") == "token revoked"
            )
            assert _channel(status)["status"] == "Disconnected"
            assert _channel(status)["lastHealthCheck"]
            # A refused token: Error on the channel and the instance not Ready.
            report = {"channel": "telegram", "state": "Error", "message": "unauthorized: no"}
            await bus.publish(Event.new(events.CHANNEL_HEALTH_UPDATE, report), scope=scope)
            status = await _wait_instance(
                kube,
                lambda s: any(
                    c.get("reason") == "ChannelError" and c.get("status") == "False"
                    for c in s.get("conditions") or []
                ),
            )
            assert _channel(status)["status"] == "Error"
            assert _channel(status)["message"] == "unauthorized: no"
            # Fixed: the next report clears it.
            report = {"channel": "telegram", "state": "Connected"}
            await bus.publish(Event.new(events.CHANNEL_HEALTH_UPDATE, report), scope=scope)
            await _wait_instance(kube, lambda s: _channel(s).get("status") == "Connected")
    finally:
        await asyncio.wait_for(bus.close(), 5)


def _channel(status: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        (c for c in status.get("channels") or [] if c.get("type") == "telegram"), {}
    )
    return found


async def _wait_instance(kube: KubeEnv, predicate: Any) -> dict[str, Any]:
    api = _harness.custom(kube)
    found: dict[str, Any] = await _harness.wait_for(
        api.list_namespaced_custom_object,
        lambda o: predicate(o.get("status") or {}),
        group=_harness.GROUP,
        version=_harness.VERSION,
        namespace=kube.namespace,
        plural="clawinstances",
    )
    return found["status"]
