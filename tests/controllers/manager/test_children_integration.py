"""ClawInstance, SkillPack and ClawPolicy reconcilers, and the health endpoint, against the API."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import kubernetes

from tests.controllers.manager import _harness
from tests.controllers.manager._harness import GROUP, VERSION, create, custom, instance_body
from tests.harness.kube import KubeEnv


def secret(kube: KubeEnv, name: str) -> None:
    kubernetes.client.CoreV1Api(kube.api_client).create_namespaced_secret(
        kube.namespace, {"metadata": {"name": name}, "stringData": {"TOKEN": "x"}}
    )


async def wait_object(kube: KubeEnv, plural: str, name: str, predicate: Any) -> dict[str, Any]:
    def match(obj: dict[str, Any]) -> bool:
        return bool(obj["metadata"]["name"] == name and predicate(obj))

    result: dict[str, Any] = await _harness.wait_for(
        custom(kube).list_namespaced_custom_object,
        match,
        group=GROUP,
        version=VERSION,
        namespace=kube.namespace,
        plural=plural,
    )
    return result


async def wait_deployment(kube: KubeEnv, predicate: Any, deleted: bool = False) -> Any:
    apps = kubernetes.client.AppsV1Api(kube.api_client)

    def blocking() -> Any:
        listing = apps.list_namespaced_deployment(kube.namespace)
        if not deleted:
            for item in listing.items:
                if predicate(item):
                    return item
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            apps.list_namespaced_deployment,
            namespace=kube.namespace,
            resource_version=listing.metadata.resource_version,
            timeout_seconds=30,
        ):
            if (event["type"] == "DELETED") == deleted and predicate(event["object"]):
                watch.stop()
                return event["object"]
        raise TimeoutError("no matching Deployment event within 30s")

    return await asyncio.to_thread(blocking)


def env_from(deployment: Any) -> str:
    return str(deployment.spec.template.spec.containers[0].env_from[0].secret_ref.name)


async def test_channels_follow_the_spec(kube: KubeEnv) -> None:
    for name in ("tg", "tg2", "sl"):
        secret(kube, name)
    channels = [
        {"type": "telegram", "configRef": {"secret": "tg"}},
        {"type": "slack", "configRef": {"secret": "sl"}},
    ]
    create(kube, "clawinstances", instance_body(channels=channels))
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    api = custom(kube)
    async with _harness.running(_harness.settings_for(kube)):
        await wait_deployment(kube, lambda d: d.metadata.name == "alice-channel-slack")
        telegram = apps.read_namespaced_deployment("alice-channel-telegram", kube.namespace)
        assert env_from(telegram) == "tg"
        patch = {"spec": {"channels": [{"type": "telegram", "configRef": {"secret": "tg2"}}]}}
        api.patch_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "clawinstances", "alice", patch
        )
        await wait_deployment(
            kube, lambda d: d.metadata.name == "alice-channel-slack", deleted=True
        )
        await wait_deployment(
            kube, lambda d: d.metadata.name == "alice-channel-telegram" and env_from(d) == "tg2"
        )
        inst = await wait_object(
            kube,
            "clawinstances",
            "alice",
            lambda o: (
                [c["type"] for c in (o.get("status") or {}).get("channels", [])] == ["telegram"]
            ),
        )
    assert inst["status"]["phase"] == "Running"
    memory = kubernetes.client.CoreV1Api(kube.api_client).read_namespaced_config_map(
        "alice-memory", kube.namespace
    )
    assert "MEMORY.md" in memory.data


async def _names_become(list_fn: Any, wanted: set[str], within: float = 30) -> None:
    """Poll a namespaced list until the channel children's names are exactly `wanted`."""

    async def poll() -> None:
        while True:
            listing = await asyncio.to_thread(list_fn)
            found = {i.metadata.name for i in listing.items if "-channel-" in i.metadata.name}
            if found == wanted:
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), within)


async def test_webhook_channels_get_a_service_and_ingress_and_all_a_network_policy(
    kube: KubeEnv,
) -> None:
    for name in ("tg", "wa"):
        secret(kube, name)
    channels = [
        {"type": "telegram", "configRef": {"secret": "tg"}, "allowedSenders": ["1", "2"]},
        {"type": "whatsapp", "configRef": {"secret": "wa"}, "webhookHost": "hooks.example.com"},
    ]
    create(kube, "clawinstances", instance_body(channels=channels))
    core = kubernetes.client.CoreV1Api(kube.api_client)
    net = kubernetes.client.NetworkingV1Api(kube.api_client)
    services = lambda: core.list_namespaced_service(kube.namespace)  # noqa: E731
    ingresses = lambda: net.list_namespaced_ingress(kube.namespace)  # noqa: E731
    policies = lambda: net.list_namespaced_network_policy(kube.namespace)  # noqa: E731
    both = {"alice-channel-telegram", "alice-channel-whatsapp"}
    async with _harness.running(_harness.settings_for(kube)):
        await _names_become(policies, both)
        await _names_become(services, {"alice-channel-whatsapp"})
        await _names_become(ingresses, {"alice-channel-whatsapp"})
        ingress = net.read_namespaced_ingress("alice-channel-whatsapp", kube.namespace)
        assert ingress.spec.rules[0].host == "hooks.example.com"
        backend = ingress.spec.rules[0].http.paths[0].backend.service
        assert (backend.name, backend.port.number) == ("alice-channel-whatsapp", 3000)
        service = core.read_namespaced_service("alice-channel-whatsapp", kube.namespace)
        assert service.spec.ports[0].port == 3000
        assert service.metadata.owner_references[0].kind == "ClawInstance"
        deployment = await wait_deployment(
            kube, lambda d: d.metadata.name == "alice-channel-telegram"
        )
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        assert env["K8SCLAW_ALLOWED_SENDERS"] == "1,2" and "K8SCLAW_ALLOWED_CHATS" not in env

        patch = {"spec": {"channels": channels[:1]}}
        custom(kube).patch_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "clawinstances", "alice", patch
        )
        await _names_become(services, set())
        await _names_become(ingresses, set())
        await _names_become(policies, {"alice-channel-telegram"})


async def test_a_missing_channel_secret_is_a_condition(kube: KubeEnv) -> None:
    channels = [{"type": "discord", "configRef": {"secret": "nope"}}]
    create(kube, "clawinstances", instance_body(channels=channels))
    async with _harness.running(_harness.settings_for(kube)):
        inst = await wait_object(
            kube,
            "clawinstances",
            "alice",
            lambda o: (o.get("status") or {}).get("phase") == "Error",
        )
    ready = {c["type"]: c for c in inst["status"]["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "SecretsMissing")
    assert "Secret 'nope' not found" in ready["message"]


async def test_skillpack_configmap_and_policy_binding(kube: KubeEnv) -> None:
    create(
        kube,
        "skillpacks",
        {
            "metadata": {"name": "ops"},
            "spec": {"skills": [{"name": "kubectl", "content": "Use kubectl."}]},
        },
    )
    create(kube, "clawpolicies", {"metadata": {"name": "strict"}, "spec": {}})
    api = custom(kube)
    async with _harness.running(_harness.settings_for(kube)):
        pack = await wait_object(
            kube, "skillpacks", "ops", lambda o: (o.get("status") or {}).get("phase") == "Ready"
        )
        assert pack["status"]["skillCount"] == 1
        await wait_object(
            kube, "clawpolicies", "strict", lambda o: (o.get("status") or {}).get("conditions")
        )
        create(kube, "clawinstances", instance_body(policyRef="strict"))
        await wait_object(
            kube,
            "clawpolicies",
            "strict",
            lambda o: (o.get("status") or {}).get("boundInstances") == 1,
        )
        api.delete_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "clawinstances", "alice"
        )
        await wait_object(
            kube,
            "clawpolicies",
            "strict",
            lambda o: (o.get("status") or {}).get("boundInstances") == 0,
        )
    cm = kubernetes.client.CoreV1Api(kube.api_client).read_namespaced_config_map(
        "ops", kube.namespace
    )
    assert cm.data == {"kubectl.md": "Use kubectl."}


async def test_health_readiness_and_metrics(kube: KubeEnv) -> None:
    port = _harness.free_port()
    settings = _harness.settings_for(kube, metrics_port=port)
    async with (
        _harness.running(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        metrics = await client.get("/metrics")
        assert "k8sclaw_controller_reconciles_total" in metrics.text
