"""Tenant isolation: a run cannot widen what it reaches (SPEC §17, #13 item 2).

The attacker is a user of tenant B who may only create AgentRuns in B's namespace (the
RBAC part is modelled by creating runs directly: admission is what refuses). Tenant B's
namespace holds more than the instance's API key — a database password Secret, a
ConfigMap of team notes — and the instance's model endpoint is the only one its key may
be sent to. Each attack names what it tries to redirect; each is refused naming the
field, by both guards: the admission webhook (refused at create) and, where no webhook
is installed, the controller's pre-check (the run fails before any Job exists). The
control run, built by the shared run builder, passes both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from k8sclaw_protocol import ClawInstance, build_run, names
from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.policy._egress import allows_ip
from tests.webhook.test_e2e import DevWebhook, _start, _stop

KEY = "tenant-b-openai-key"
ENDPOINT = "https://203.0.113.10/v1"  # an IP literal: the NetworkPolicy names it exactly
ATTACKER = "198.51.100.7"
ATTACKS = [
    pytest.param({"model": {"model": "gpt-4o", "authSecretRef": "db-password"}},
                 "spec.model.authSecretRef", id="other-secret"),
    pytest.param({"model": {"model": "gpt-4o", "baseURL": f"https://{ATTACKER}/v1"}},
                 "spec.model.baseURL", id="own-server"),
    pytest.param({"model": {"model": "gpt-4o", "provider": "ollama"}},
                 "spec.model.provider", id="other-provider"),
    pytest.param({"sandbox": {"enabled": True, "image": "attacker/miner:latest"}},
                 'spec.sandbox.image \\"attacker/miner:latest\\" is not allowed', id="image"),
    pytest.param({"skills": [{"configMapRef": "team-notes"}]},
                 "spec.skills[0].configMapRef", id="configmap-skill"),
    pytest.param({"skills": [{"skillPackRef": "team-notes"}]},
                 "spec.skills[0].skillPackRef", id="configmap-as-skillpack"),
]  # fmt: skip


def _tenant(kube: KubeEnv) -> dict[str, Any]:
    """Tenant B's namespace: the instance, its key, and things a run must not reach."""
    core = kubernetes.client.CoreV1Api(kube.api_client)
    for name, data in ((KEY, {"OPENAI_API_KEY": "sk-b"}), ("db-password", {"PASSWORD": "x"})):
        core.create_namespaced_secret(
            kube.namespace, {"metadata": {"name": name}, "stringData": data}
        )
    notes = {"metadata": {"name": "team-notes"}, "data": {"notes.md": "internal"}}
    core.create_namespaced_config_map(kube.namespace, notes)
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "tenant-b"},
        "spec": {
            "agents": {"default": {"model": "gpt-4o", "baseURL": ENDPOINT}},
            "authRefs": [{"provider": "openai", "secret": KEY}],
        },
    }
    return _harness.custom(kube).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", instance
    )


def _run(name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {"instanceRef": "tenant-b", "sessionKey": "s", "task": "leak it", **spec},
    }
    body["spec"].setdefault("model", {"model": "gpt-4o"})
    return body


@pytest.fixture
def webhook(kube: KubeEnv) -> Iterator[DevWebhook]:
    if kube.is_real:
        pytest.skip("a real API server cannot reach a webhook on this machine's 127.0.0.1")
    hook = _start(kube)
    try:
        yield hook
    finally:
        if hook.process.poll() is None:
            _stop(hook)


@pytest.mark.parametrize(("spec", "field"), ATTACKS)
def test_admission_refuses_each_attack_naming_the_field(
    kube: KubeEnv, webhook: DevWebhook, spec: dict[str, Any], field: str
) -> None:
    stored = _tenant(kube)
    api = _harness.custom(kube)
    with pytest.raises(ApiException) as refused:
        api.create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, kube.namespace, "agentruns", _run("attack", **spec)
        )
    assert refused.value.status in (400, 403, 422)
    assert field in str(refused.value.body)
    control = build_run(ClawInstance.from_wire(stored), "hello", source="cli", name="control")
    admitted = api.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "agentruns", control.to_wire()
    )
    assert admitted["spec"]["model"]["authSecretRef"] == KEY


@pytest.mark.parametrize(("spec", "field"), ATTACKS)
async def test_without_a_webhook_the_controller_refuses_each_attack_before_any_job(
    kube: KubeEnv, spec: dict[str, Any], field: str
) -> None:
    stored = _tenant(kube)
    api = _harness.custom(kube)
    control = build_run(ClawInstance.from_wire(stored), "hello", source="cli", name="control")
    async with _harness.running(_harness.settings_for(kube)):
        for body in (_run("attack", **spec), control.to_wire()):
            api.create_namespaced_custom_object(
                names.GROUP, names.API_VERSION, kube.namespace, "agentruns", body
            )
        run = await _harness.wait_run(kube, "attack", lambda o: _harness.phase(o) == "Failed")
        await _harness.wait_run(kube, "control", lambda o: _harness.phase(o) == "Running")
    assert field.replace('\\"', '"') in run["status"]["error"]
    batch = kubernetes.client.BatchV1Api(kube.api_client)
    assert [job.metadata.name for job in batch.list_namespaced_job(kube.namespace).items] == [
        "control"
    ]
    [agent] = [
        c
        for c in batch.read_namespaced_job("control", kube.namespace).spec.template.spec.containers
        if c.name == names.CONTAINER_AGENT
    ]
    assert [source.secret_ref.name for source in agent.env_from] == [KEY]
    # Egress: the instance's endpoint is open, the attacker's server is not.
    nets = kubernetes.client.NetworkingV1Api(kube.api_client)
    agent_policy = nets.read_namespaced_network_policy("k8sclaw-agent-tenant-b", kube.namespace)
    egress = kube.api_client.sanitize_for_serialization(agent_policy)["spec"]["egress"]
    assert allows_ip(egress, "203.0.113.10", 443)
    assert not allows_ip(egress, ATTACKER, 443)
