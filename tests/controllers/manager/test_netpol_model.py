"""Through the emulator: the controller reads the Service an instance's baseURL names and
applies NetworkPolicies that let the run's pods reach that Service's pods (issue #8)."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers import netpol
from k8sclaw_controllers.manager import _netpol
from k8sclaw_protocol import names
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv
from tests.policy._egress import allows_ip, allows_pod

OLLAMA_PODS = {"app.kubernetes.io/name": "ollama"}


def _ollama_service(kube: KubeEnv) -> None:
    body = {
        "metadata": {"name": "ollama"},
        "spec": {
            "selector": OLLAMA_PODS,
            "ports": [{"name": "api", "port": 11434, "targetPort": 11434}],
        },
    }
    kubernetes.client.CoreV1Api(kube.api_client).create_namespaced_service(kube.namespace, body)


def _instance(name: str, base_url: str) -> dict[str, Any]:
    default = {"model": "llama3", "provider": "ollama", "baseURL": base_url}
    return instance_body(name, agents={"default": default})


def _applied(kube: KubeEnv) -> dict[str, dict[str, Any]]:
    nets = kubernetes.client.NetworkingV1Api(kube.api_client)
    return {
        p.metadata.name: kube.api_client.sanitize_for_serialization(p)
        for p in nets.list_namespaced_network_policy(kube.namespace).items
    }


async def test_applied_policies_allow_the_instances_ollama_service_or_warn_when_missing(
    kube: KubeEnv,
) -> None:
    ns = kube.namespace
    _ollama_service(kube)
    create(kube, "clawinstances", _instance("alice", f"http://ollama.{ns}.svc:11434/v1"))
    create(kube, "clawinstances", _instance("bob", f"http://gone.{ns}.svc:11434/v1"))
    core = kubernetes.client.CoreV1Api(kube.api_client)
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("a1", "alice"))
        create(kube, "agentruns", run_body("b1", "bob"))
        await wait_run(kube, "a1", lambda o: phase(o) == "Running")
        await wait_run(kube, "b1", lambda o: phase(o) == "Running")
        warning = await _harness.wait_for(
            core.list_namespaced_event,
            lambda e: e.reason == "NetworkPolicyWarning" and e.involved_object.name == "bob",
            namespace=ns,
        )
        pod = await _harness.wait_for(
            core.list_namespaced_pod,
            lambda p: True,
            namespace=ns,
            label_selector=(f"{names.LABEL_AGENT_RUN}=a1"),
        )
    applied = _applied(kube)
    service_rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {names.LABEL_NAMESPACE_NAME: ns}},
                "podSelector": {"matchLabels": OLLAMA_PODS},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 11434}],
    }
    for name in netpol.policy_names("alice"):
        assert service_rule in applied[name]["spec"]["egress"], name
    agent = applied["k8sclaw-agent-alice"]
    assert netpol.selects(agent["spec"]["podSelector"], pod.metadata.labels)
    egress = agent["spec"]["egress"]
    assert allows_pod(egress, {names.LABEL_NAMESPACE_NAME: ns}, OLLAMA_PODS, 11434)
    assert not allows_ip(egress, "8.8.8.8", 443)  # the in-cluster model opens nothing public
    assert netpol.public_rule(11434) in applied["k8sclaw-agent-bob"]["spec"]["egress"]
    assert warning.type == "Warning"
    assert f'Service "{ns}/gone" not found' in warning.message


async def test_a_changed_base_url_reapplies_the_policies_for_the_next_run(kube: KubeEnv) -> None:
    ns = kube.namespace
    _ollama_service(kube)
    create(kube, "clawinstances", _instance("alice", f"http://ollama.{ns}.svc:11434/v1"))
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("a1", "alice"))
        await wait_run(kube, "a1", lambda o: phase(o) == "Running")
        egress = _applied(kube)["k8sclaw-agent-alice"]["spec"]["egress"]
        assert not allows_ip(egress, "10.1.2.3", 8080)
        _harness.custom(kube).patch_namespaced_custom_object(
            "k8sclaw.io",
            "v1alpha1",
            ns,
            "clawinstances",
            "alice",
            {"spec": {"agents": {"default": {"baseURL": "http://10.1.2.3:8080/v1"}}}},
        )
        await _harness.wait_for(  # the controller has reconciled the new instance version
            _harness.custom(kube).list_namespaced_custom_object,
            lambda o: (
                "10.1.2.3" in str(o["spec"])
                and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]
            ),
            group="k8sclaw.io",
            version="v1alpha1",
            namespace=ns,
            plural="clawinstances",
        )
        create(kube, "agentruns", run_body("a2", "alice"))
        await wait_run(kube, "a2", lambda o: phase(o) == "Running")
    egress = _applied(kube)["k8sclaw-agent-alice"]["spec"]["egress"]
    assert allows_ip(egress, "10.1.2.3", 8080)  # the new endpoint
    assert not allows_pod(egress, {names.LABEL_NAMESPACE_NAME: ns}, OLLAMA_PODS, 11434)


def test_the_endpoint_comes_from_the_instance_and_bad_ones_are_one_line_errors() -> None:
    endpoint = _netpol._endpoint(_instance("carol", "http://ollama.models.svc:11434/v1"))
    assert (endpoint.host, endpoint.port) == ("ollama.models.svc", 11434)
    with_auth_ref = instance_body("dave", authRefs=[{"secret": "k", "provider": "anthropic"}])
    assert _netpol._endpoint(with_auth_ref).host == "api.anthropic.com"
    with pytest.raises(ValueError, match=r"^model baseURL \"ollama:11434\" is not an http"):
        _netpol._endpoint(_instance("erin", "ollama:11434"))
    with pytest.raises(ValueError, match=r"^the ClawInstance spec does not validate$"):
        _netpol._endpoint({"metadata": {"name": "x"}, "spec": {"agents": {}}})
