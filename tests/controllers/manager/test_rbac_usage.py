"""The controller's shipped RBAC against what it really asks the API server for (issue #13
item 8): an end-to-end run through a secret-backed instance with a channel, a skill pack,
a policy and a run to its end and cleanup, with the kube emulator logging each request in
RBAC's terms. Every request must be granted - cluster-wide for the informers' list-watch,
else by the cluster role or the per-namespace tenant role - and every granted verb must
have been used, or be listed in `UNEXERCISED` with the code that needs it (checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from k8sclaw.installer import MANIFESTS_DIR
from k8sclaw_controllers.manager import _operator
from k8sclaw_protocol import names
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, text

pytestmark = pytest.mark.slow

Grant = tuple[str, str, str]  # (verb, API group, resource[/subresource])
MANAGER = Path(_operator.__file__).parent

UNEXERCISED: dict[Grant, tuple[str, str]] = {
    # grant: (module under manager/, code that needs it) - paths the scenario does not take
    ("delete", "batch", "jobs"): ("_completion.py", '_kube.group("batch/v1", namespace, "jobs"'),
    ("get", "", "pods/log"): (
        "_pods.py",
        '_kube.core(meta["namespace"], "pods", meta["name"], "log")',
    ),
    ("patch", "", "configmaps"): ("_skills.py", "await ctx.kube.patch(path, patch)"),
    ("get", "", "configmaps"): ("_skills.py", "current = await ctx.kube.get(path)"),
    ("patch", "apps", "deployments"): ("_instance.py", "ANNOTATION_CONFIG_HASH) != digest"),
    ("delete", "apps", "deployments"): ("_instance.py", 'await ctx.kube.delete(f"{path}/{name}")'),
    ("create", "networking.k8s.io", "networkpolicies"): ("_netpol.py", "await ctx.kube.apply("),
    ("patch", "k8sclaw.io", "agentruns"): ("_completion.py", '"metadata": {"finalizers": rest'),
    ("delete", "k8sclaw.io", "agentruns"): ("_completion.py", "await ctx.kube.delete(_kube.claw("),
    ("get", "", "services"): ("_netpol.py", '_kube.core(ref.namespace, "services", ref.name)'),
    # Webhook-mode channels (the scenario's Telegram channel polls) and channel removal.
    ("create", "", "services"): ("_instance.py", "await ctx.kube.apply(_kube.group(api,"),
    ("patch", "", "services"): ("_instance.py", "await ctx.kube.apply(_kube.group(api,"),
    ("delete", "", "services"): (
        "_instance.py",
        "await ctx.kube.delete(f\"{path}/{meta['name']}\")",
    ),
    ("create", "networking.k8s.io", "ingresses"): ("_channels.py", '"kind": "Ingress"'),
    ("patch", "networking.k8s.io", "ingresses"): ("_channels.py", '"kind": "Ingress"'),
    ("delete", "networking.k8s.io", "ingresses"): (
        "_instance.py",
        "await ctx.kube.delete(f\"{path}/{meta['name']}\")",
    ),
    ("delete", "networking.k8s.io", "networkpolicies"): (
        "_instance.py",
        "await ctx.kube.delete(f\"{path}/{meta['name']}\")",
    ),
    ("get", "k8sclaw.io", "clawpolicies"): ("_agentrun.py", '"clawpolicies", ref)'),
    ("get", "k8sclaw.io", "skillpacks"): (
        "_operator.py",
        'return await ctx.kube.get(f"{watched.path',
    ),
    ("create", "k8sclaw.io", "agentruns"): (
        "_schedrun.py",
        'await ctx.kube.create(_kube.claw(schedule.namespace, "agentruns"), run, read=False)',
    ),
    ("patch", "k8sclaw.io", "clawschedules/status"): (
        "_schedule.py",
        'await ctx.kube.patch(f"{path}/{meta[\'name\']}/status", {"status": status}, read=False)',
    ),
    ("get", "k8sclaw.io", "clawschedules"): (
        "_operator.py",
        'return await ctx.kube.get(f"{watched.path',
    ),
    # Not requests: admission (OwnerReferencesPermissionEnforcement) checks them for
    # owner references with blockOwnerDeletion.
    ("update", "k8sclaw.io", "agentruns/finalizers"): (
        "_jobbuilder.py",
        '"blockOwnerDeletion": True',
    ),
    ("update", "k8sclaw.io", "clawinstances/finalizers"): (
        "_netpol.py",
        '"blockOwnerDeletion": True',
    ),
    ("update", "k8sclaw.io", "skillpacks/finalizers"): ("_skills.py", '"blockOwnerDeletion": True'),
}


def _rules(kind: str, name: str) -> set[Grant]:
    for doc in yaml.safe_load_all((MANIFESTS_DIR / "rbac" / "controller.yaml").read_text()):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return {
                (verb, group, resource)
                for rule in doc["rules"]
                for verb in rule["verbs"]
                for group in rule["apiGroups"]
                for resource in rule["resources"]
            }
    raise AssertionError(f"no {kind} {name} in rbac/controller.yaml")


CLUSTER = _rules("ClusterRole", "k8sclaw-controller")
TENANT = _rules("ClusterRole", names.CONTROLLER_TENANT_ROLE)
INFORMED = {
    (verb, kind.api.rpartition("/")[0] if "/" in kind.api else "", kind.plural)
    for kind in _operator.KINDS
    for verb in ("list", "watch")
}


def test_the_unexercised_grants_name_code_that_exists() -> None:
    for grant, (module, snippet) in UNEXERCISED.items():
        assert snippet in (MANAGER / module).read_text(), (grant, module, snippet)
        assert grant in CLUSTER | TENANT, grant


def test_the_informers_list_and_watch_cluster_wide() -> None:
    assert INFORMED <= CLUSTER
    assert not {g for g in CLUSTER if g[0] not in ("get", "list", "watch")} - {
        ("patch", names.GROUP, f"{plural}/status")
        for plural in ("clawinstances", "agentruns", "clawpolicies", "skillpacks", "clawschedules")
    }, "the cluster-wide role writes only the status of K8sClaw objects"


def _instance(llm: ScriptedLLM, **spec: Any) -> dict[str, Any]:
    """An instance whose model endpoint and key Secret are the run's (confinement: a run
    takes provider, Secret and baseURL from its instance)."""
    body = instance_body(authRefs=[{"provider": "openai", "secret": "alice-openai-key"}], **spec)
    body["spec"]["agents"]["default"]["baseURL"] = llm.base_url("openai")
    return body


def _scenario_objects(kube: KubeEnv, llm: ScriptedLLM) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    for name, key in (("alice-openai-key", "OPENAI_API_KEY"), ("tg", "TOKEN")):
        core.create_namespaced_secret(
            kube.namespace, {"metadata": {"name": name}, "stringData": {key: "x"}}
        )
    create(
        kube,
        "skillpacks",
        {"metadata": {"name": "ops"}, "spec": {"skills": [{"name": "k", "content": "Use k."}]}},
    )
    create(kube, "clawpolicies", {"metadata": {"name": "strict"}, "spec": {}})
    channels = [{"type": "telegram", "configRef": {"secret": "tg"}}]
    create(kube, "clawinstances", _instance(llm, policyRef="strict", channels=channels))


async def test_every_request_is_granted_and_every_grant_is_used(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    if kube.emulator is None:
        pytest.skip("the request log is the kube emulator's")
    model = {"provider": "openai", "model": "gpt-4o"}
    llm.script(text("done", input_tokens=1, output_tokens=1))
    with kube.emulator.recording() as log:
        _scenario_objects(kube, llm)
        async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
            skills = [{"skillPackRef": "ops"}]
            create(kube, "agentruns", run_body("ok", model=model, skills=skills))
            run = await wait_run(kube, "ok", lambda o: phase(o) in ("Succeeded", "Failed"), 120)
    assert phase(run) == "Succeeded", run["status"]
    ours = [a for a in log if a.user_agent == "k8sclaw-controller"]
    assert {a.namespace for a in ours} == {kube.namespace}
    used = {(a.verb, a.group, a.resource) for a in ours}
    assert not used - (CLUSTER | TENANT), "requests the shipped RBAC would refuse"
    assert used >= INFORMED
    assert not (CLUSTER | TENANT) - used - set(UNEXERCISED), "granted but never used"
    secrets = {a.verb for a in ours if a.resource == "secrets"}
    # Read by name, and each run's bus credentials created (never updated, listed or watched).
    assert secrets == {"get", "create"}, "Secrets are read by name only, never listed or watched"


async def test_a_run_in_a_namespace_that_did_not_opt_in_fails_saying_so(
    kube: KubeEnv, llm: ScriptedLLM
) -> None:
    """Without the tenant RoleBinding only the cluster role applies: the emulator refuses
    the rest with 403, as RBAC would, and the run fails naming the fix."""
    if kube.emulator is None:
        pytest.skip("the emulator stands in for RBAC here")

    def not_onboarded(access: Any) -> bool:
        grant = (access.verb, access.group, access.resource)
        return access.user_agent == "k8sclaw-controller" and grant not in CLUSTER

    create(kube, "clawinstances", _instance(llm))
    model = {"provider": "openai", "model": "gpt-4o"}
    with kube.emulator.forbidding(not_onboarded):
        async with _harness.running(_harness.settings_for(kube)):
            create(kube, "agentruns", run_body("early", model=model))
            run = await wait_run(kube, "early", lambda o: phase(o) == "Failed", 60)
    assert f"k8sclaw onboard -n {kube.namespace}" in run["status"]["error"]
    assert "forbidden" in run["status"]["error"]
    reasons = {c["reason"] for c in run["status"]["conditions"]}
    assert "NamespaceNotOnboarded" in reasons, run["status"]
    jobs = kubernetes.client.BatchV1Api(kube.api_client).list_namespaced_job(kube.namespace)
    assert jobs.items == []
