"""The webhook over real HTTPS (aiohttp server, httpx client trusting only its CA)."""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from k8sclaw_controllers.webhook import Admission, _certs, _server
from k8sclaw_protocol import ClawInstance, ClawPolicy, names
from tests.policy._builders import make_run, policy_body, run_body, sandbox
from tests.webhook._cases import RULE_VIOLATIONS
from tests.webhook._memory import MemorySource

NS = "team-a"


@dataclass
class Webhook:
    client: httpx.AsyncClient
    source: MemorySource
    url: str

    async def review(
        self,
        path: str,
        obj: dict[str, Any],
        operation: str = "CREATE",
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        request = {
            "uid": uid,
            "operation": operation,
            "namespace": NS,
            "object": obj,
            "oldObject": old,
        }
        body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
        reply = await self.client.post(self.url + path, json=body)
        assert reply.status_code == 200, reply.text
        response: dict[str, Any] = reply.json()["response"]
        assert response["uid"] == uid
        return response


def _instance(policy: str | None = "default-policy") -> ClawInstance:
    spec: dict[str, Any] = {"agents": {"default": {"model": "gpt-4o"}}}
    if policy:
        spec["policyRef"] = policy
    return ClawInstance.from_wire({"metadata": {"name": "alpha", "namespace": NS}, "spec": spec})


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Webhook]:
    source = MemorySource()
    source.instances[(NS, "alpha")] = _instance()
    source.policies[(NS, "default-policy")] = ClawPolicy.from_wire(policy_body())
    bundle = _certs.generate(["127.0.0.1"])
    context = _certs.server_context(bundle, tmp_path / "tls")
    runner = await _server.start(_server.build_app(Admission(source)), "127.0.0.1", 0, context)
    port = runner.addresses[0][1]
    trust = ssl.create_default_context(cadata=bundle.ca_cert.decode())
    async with httpx.AsyncClient(verify=trust) as client:
        yield Webhook(client, source, f"https://127.0.0.1:{port}")
    await runner.cleanup()


def _set_policy(hook: Webhook, **spec: Any) -> None:
    hook.source.policies[(NS, "default-policy")] = ClawPolicy.from_wire(policy_body(**spec))


async def test_health_endpoints(webhook: Webhook) -> None:
    assert (await webhook.client.get(webhook.url + "/healthz")).text == "ok"
    assert (await webhook.client.get(webhook.url + "/readyz")).status_code == 200


async def test_clients_not_trusting_the_ca_are_refused_by_tls(webhook: Webhook) -> None:
    async with httpx.AsyncClient() as stranger:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await stranger.get(webhook.url + "/healthz")


async def test_compliant_run_is_admitted_and_mutated(webhook: Webhook) -> None:
    _set_policy(
        webhook,
        sandboxPolicy={"required": True, "defaultImage": "corp/sandbox:2", "maxCPU": "1"},
        toolGating={"defaultAction": "deny", "rules": [{"tool": "read_file", "action": "allow"}]},
    )
    obj = run_body(sandbox={"enabled": True})
    mutated_response = await webhook.review(names.WEBHOOK_PATH_MUTATE_AGENTRUN, obj)
    assert mutated_response["allowed"] is True
    patch = json.loads(base64.b64decode(mutated_response["patch"]))
    mutated = jsonpatch.apply_patch(obj, patch)
    assert mutated["metadata"]["labels"][names.LABEL_INSTANCE] == "alpha"
    assert mutated["spec"]["sandbox"]["image"] == "corp/sandbox:2"
    assert mutated["spec"]["sandbox"]["resources"]["limits"] == {"cpu": "1"}
    assert mutated["spec"]["toolPolicy"]["allow"] == ["read_file"]
    validated = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, mutated)
    assert validated == {"uid": validated["uid"], "allowed": True}


@pytest.mark.parametrize(
    ("policy", "spec", "rule"),
    [
        *RULE_VIOLATIONS,
        pytest.param(
            {"sandboxPolicy": {"maxMemory": "1Gi"}},
            {"sandbox": sandbox(limits={"memory": "2Gi"})},
            "sandboxPolicy.maxMemory",
            id="cap",
        ),
        pytest.param(
            {"sandboxPolicy": {"maxMemory": "1Gi"}},
            {"sandbox": sandbox(limits={"memory": "2 GB"})},
            "spec.sandbox.resources.limits.memory",
            id="malformed-quantity",
        ),
    ],
)
async def test_each_rule_is_enforced_with_a_message_naming_it(
    webhook: Webhook, policy: dict[str, Any], spec: dict[str, Any], rule: str
) -> None:
    _set_policy(webhook, **policy)
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(**spec))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert f'denied by ClawPolicy "default-policy" rule {rule}: ' in response["status"]["message"]


async def test_concurrency_counts_active_runs_of_the_instance(webhook: Webhook) -> None:
    _set_policy(webhook, subagentPolicy={"maxConcurrent": 1})
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body()))["allowed"]
    webhook.source.runs[(NS, "busy")] = make_run()
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(name="run-2"))
    assert "subagentPolicy.maxConcurrent" in response["status"]["message"]


async def test_a_policy_change_applies_to_the_next_review(webhook: Webhook) -> None:
    obj = run_body(toolPolicy={"allow": ["fetch_url"]})
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj))["allowed"]
    _set_policy(webhook, featureGates={"network-access": False})
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj)
    assert "featureGates.network-access" in response["status"]["message"]


async def test_missing_instance_or_policy_is_denied_on_create(webhook: Webhook) -> None:
    response = await webhook.review(
        names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(instanceRef="ghost")
    )
    assert 'rule spec.instanceRef: ClawInstance "ghost" not found' in response["status"]["message"]
    webhook.source.instances[(NS, "alpha")] = _instance("gone-policy")
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body())
    assert (
        'rule spec.policyRef: ClawInstance "alpha" references missing ClawPolicy "gone-policy"'
        in response["status"]["message"]
    )


async def test_instance_without_policy_passes_and_is_still_labelled(webhook: Webhook) -> None:
    webhook.source.instances[(NS, "alpha")] = _instance(None)
    obj = run_body(toolPolicy={"allow": ["execute_command"]})
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj))["allowed"]
    response = await webhook.review(names.WEBHOOK_PATH_MUTATE_AGENTRUN, obj)
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch == [
        {"op": "add", "path": "/metadata/labels", "value": {names.LABEL_INSTANCE: "alpha"}}
    ]


async def test_objects_being_deleted_pass_even_when_instance_is_gone(webhook: Webhook) -> None:
    webhook.source.instances.clear()
    old = run_body(finalizers=None)
    old["metadata"]["finalizers"] = [names.FINALIZER_AGENT_RUN]
    new = run_body()
    new["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    for path in (names.WEBHOOK_PATH_VALIDATE_AGENTRUN, names.WEBHOOK_PATH_MUTATE_AGENTRUN):
        response = await webhook.review(path, new, "UPDATE", old)
        assert response["allowed"] is True and "patch" not in response


async def test_metadata_only_update_passes_without_instance(webhook: Webhook) -> None:
    webhook.source.instances.clear()
    old, new = run_body(), run_body()
    new["metadata"]["finalizers"] = [names.FINALIZER_AGENT_RUN]
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, new, "UPDATE", old))[
        "allowed"
    ]


async def test_cluster_outage_fails_closed_with_a_clear_message(webhook: Webhook) -> None:
    webhook.source.broken = True
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body())
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "connection refused; retry" in response["status"]["message"]


async def test_garbage_body_is_a_400(webhook: Webhook) -> None:
    reply = await webhook.client.post(
        webhook.url + names.WEBHOOK_PATH_VALIDATE_AGENTRUN, content=b"{not json"
    )
    assert reply.status_code == 400
    reply = await webhook.client.post(
        webhook.url + names.WEBHOOK_PATH_VALIDATE_AGENTRUN, json={"kind": "Pod"}
    )
    assert reply.status_code == 400 and "not an AdmissionReview" in reply.text


async def test_clawpolicy_with_unknown_gate_is_refused(webhook: Webhook) -> None:
    obj = policy_body(
        featureGates={"teleport": True},
        networkPolicy={"allowedEgress": [{"host": "api.openai.com"}]},
    )
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_POLICY, obj)
    assert response["allowed"] is False
    assert "rule featureGates.teleport: unknown feature gate" in response["status"]["message"]
    assert any("not enforced" in warning for warning in response["warnings"])


async def test_skillpack_validation(webhook: Webhook) -> None:
    good = {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "SkillPack",
        "metadata": {"name": "p", "namespace": NS},
        "spec": {"skills": [{"name": "a", "content": "x"}]},
    }
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_SKILLPACK, good))["allowed"]
    bad = json.loads(json.dumps(good))
    bad["spec"]["skills"][0]["requires"] = {"bins": ["rm -rf"]}
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_SKILLPACK, bad)
    assert "skills[0].requires.bins" in response["status"]["message"]


async def test_malformed_agentrun_is_refused_by_the_validator_and_left_alone_by_the_mutator(
    webhook: Webhook,
) -> None:
    obj = run_body()
    del obj["spec"]["task"]
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj)
    assert "rule schema: AgentRun is malformed at spec.task" in response["status"]["message"]
    mutated = await webhook.review(names.WEBHOOK_PATH_MUTATE_AGENTRUN, obj)
    assert mutated["allowed"] is True and "patch" not in mutated


async def test_instance_switching_its_policy_is_judged_by_the_new_one(webhook: Webhook) -> None:
    """The policy name remembered from the last review is only a guess for a parallel
    read; the live instance decides which policy judges."""
    obj = run_body(toolPolicy={"allow": ["fetch_url"]})
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj))["allowed"]
    strict = ClawPolicy.from_wire(
        policy_body(name="strict", featureGates={"network-access": False})
    )
    webhook.source.policies[(NS, "strict")] = strict
    webhook.source.instances[(NS, "alpha")] = _instance("strict")
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj)
    assert (
        'denied by ClawPolicy "strict" rule featureGates.network-access'
        in (response["status"]["message"])
    )
    webhook.source.instances[(NS, "alpha")] = _instance()
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, obj))["allowed"]


def _started(**spec: Any) -> dict[str, Any]:
    body = run_body(**spec)
    body["status"] = {"phase": "Running", "jobName": "run-1"}
    return body


async def test_spec_change_of_a_started_run_is_denied_even_without_instance(
    webhook: Webhook,
) -> None:
    webhook.source.instances.clear()  # the rule needs no cluster read
    old = _started()
    new = run_body(task="something else")
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, new, "UPDATE", old)
    assert response["allowed"] is False and response["status"]["code"] == 403
    assert response["status"]["message"] == (
        'denied by K8sClaw admission rule spec.immutable: AgentRun "run-1" is Running and '
        "its spec is immutable once started (changed: spec.task); create a new AgentRun "
        "instead — labels, annotations and finalizers may still change"
    )


async def test_spec_change_of_a_run_not_yet_started_is_judged_by_the_policy(
    webhook: Webhook,
) -> None:
    _set_policy(webhook, featureGates={"network-access": False})
    old, new = run_body(), run_body(toolPolicy={"allow": ["fetch_url"]})
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, new, "UPDATE", old)
    assert "rule featureGates.network-access" in response["status"]["message"]
    new = run_body(task="still compliant")
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, new, "UPDATE", old)
    assert response["allowed"] is True


async def test_metadata_change_of_a_started_run_passes_and_keeps_its_label(
    webhook: Webhook,
) -> None:
    old = _started()
    new = run_body()
    new["metadata"]["labels"] = {"team": "a"}
    for path in (names.WEBHOOK_PATH_VALIDATE_AGENTRUN, names.WEBHOOK_PATH_MUTATE_AGENTRUN):
        response = await webhook.review(path, new, "UPDATE", old)
        assert response["allowed"] is True
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch[0]["value"] == {"team": "a", names.LABEL_INSTANCE: "alpha"}


async def test_status_subresource_writes_are_never_judged(webhook: Webhook) -> None:
    """Even a (misconfigured) rule on agentruns/status could not block the controller."""
    webhook.source.broken = True  # no read is made
    old = _started()
    new = _started(task="ignored by the API server on a status write")
    new["status"] = {"phase": "Succeeded", "result": "done"}
    for path in (names.WEBHOOK_PATH_VALIDATE_AGENTRUN, names.WEBHOOK_PATH_MUTATE_AGENTRUN):
        uid = str(uuid.uuid4())
        request = {
            "uid": uid,
            "operation": "UPDATE",
            "subResource": "status",
            "namespace": NS,
            "object": new,
            "oldObject": old,
        }
        body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
        reply = await webhook.client.post(webhook.url + path, json=body)
        assert reply.json()["response"] == {"uid": uid, "allowed": True}


async def test_missing_instance_message_says_how_to_fix_it(webhook: Webhook) -> None:
    response = await webhook.review(
        names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(instanceRef="ghost")
    )
    assert response["status"]["message"] == (
        'denied by K8sClaw admission rule spec.instanceRef: ClawInstance "ghost" not found '
        'in namespace "team-a" — create it or fix spec.instanceRef'
    )


@pytest.mark.parametrize("name", ["my.run", "r" * 64, "Run-1"])
async def test_names_that_cannot_be_a_job_or_a_subject_token_are_denied(
    webhook: Webhook, name: str
) -> None:
    """Behind the CRD's own pattern (which stops these first on a current install), the
    webhook refuses them too: a CRD from an older release lacks the pattern."""
    response = await webhook.review(names.WEBHOOK_PATH_VALIDATE_AGENTRUN, run_body(name=name))
    assert response["allowed"] is False
    assert "rule metadata.name: AgentRun name" in response["status"]["message"]
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"agents": {"default": {"model": "m"}}},
    }
    refused = await webhook.review(names.WEBHOOK_PATH_VALIDATE_INSTANCE, instance)
    assert refused["allowed"] is False
    assert "rule metadata.name: ClawInstance name" in refused["status"]["message"]
    instance["metadata"]["name"] = "team-alpha"
    assert (await webhook.review(names.WEBHOOK_PATH_VALIDATE_INSTANCE, instance))["allowed"]
