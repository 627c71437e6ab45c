"""The controller's side of run confinement and loud failures (#13 items 2, 10, 11, 15),
with no webhook installed: its pre-check is then the only guard.

Each test uses its own namespace (the `kube` fixture), so names need not be unique.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers.manager._agentrun import PrecheckError, _check_name
from k8sclaw_protocol import AgentRun, names
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv

LLM = "https://llm.example.com/v1"


def _instance() -> dict[str, Any]:
    """Instance alice: openai at LLM, key Secret alice-key."""
    body = instance_body(authRefs=[{"provider": "openai", "secret": "alice-key"}])
    body["spec"]["agents"]["default"]["baseURL"] = LLM
    return body


def _jobs(kube: KubeEnv) -> list[Any]:
    return list(
        kubernetes.client.BatchV1Api(kube.api_client).list_namespaced_job(kube.namespace).items
    )


def _agent_env(job: Any) -> tuple[dict[str, str], list[str]]:
    [agent] = [c for c in job.spec.template.spec.containers if c.name == names.CONTAINER_AGENT]
    env = {item.name: item.value for item in agent.env if item.value is not None}
    secrets = [source.secret_ref.name for source in agent.env_from or []]
    return env, secrets


def _failed(run: dict[str, Any]) -> dict[str, Any]:
    conditions: dict[str, dict[str, Any]] = {c["type"]: c for c in run["status"]["conditions"]}
    return conditions["Failed"]


async def _event(kube: KubeEnv, name: str, reason: str) -> Any:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    return await _harness.wait_for(
        core.list_namespaced_event,
        lambda e: e.reason == reason and e.involved_object.name == name,
        namespace=kube.namespace,
    )


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"authSecretRef": "db-password"}, "spec.model.authSecretRef"),
        ({"baseURL": "https://attacker.example/v1"}, "spec.model.baseURL"),
    ],
)
async def test_a_run_choosing_its_own_secret_or_endpoint_fails_naming_the_field(
    kube: KubeEnv, model: dict[str, Any], field: str
) -> None:
    create(kube, "clawinstances", _instance())
    spec_model = {"provider": "openai", "model": "gpt-4o", **model}
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("rogue", model=spec_model))
        run = await wait_run(kube, "rogue", lambda o: phase(o) == "Failed")
    assert _failed(run)["reason"] == "PolicyViolation"
    assert f"rule {field}: must equal the instance's" in run["status"]["error"]
    assert _jobs(kube) == []


async def test_the_job_takes_secret_and_endpoint_from_the_instance(kube: KubeEnv) -> None:
    """A run that leaves them out gets the instance's; `allow: []` reaches the pod empty."""
    create(kube, "clawinstances", _instance())
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("plain", toolPolicy={"allow": []}))
        await wait_run(kube, "plain", lambda o: phase(o) == "Running")
    [job] = _jobs(kube)
    env, secrets = _agent_env(job)
    assert secrets == ["alice-key"]
    assert env["MODEL_BASE_URL"] == LLM
    assert env["TOOLS_ALLOW"] == ""


async def test_a_run_whose_job_the_api_server_refuses_fails_with_its_message(
    kube: KubeEnv,
) -> None:
    """A sandbox requesting more CPU than its limit is a valid AgentRun, but its Job is
    invalid: the create gets 422 and the run fails at once, not Pending forever."""
    create(kube, "clawinstances", _instance())
    resources = {"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}}
    sandbox = {"enabled": True, "resources": resources}
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("greedy", sandbox=sandbox))
        run = await wait_run(kube, "greedy", lambda o: phase(o) == "Failed")
        event = await _event(kube, "greedy", "JobRejected")
    failed = _failed(run)
    assert failed["reason"] == "JobRejected"
    assert "the API server refused the Job greedy: 422" in run["status"]["error"]
    assert "must be less than or equal to cpu limit" in run["status"]["error"]
    assert event.type == "Warning" and "422" in event.message
    assert _jobs(kube) == []


async def test_a_skillpack_never_overwrites_an_unrelated_configmap(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    mine = {"metadata": {"name": "ops", "labels": {"team": "db"}}, "data": {"password": "x"}}
    core.create_namespaced_config_map(kube.namespace, mine)
    create(kube, "clawinstances", _instance())
    pack = {
        "metadata": {"name": "ops"},
        "spec": {"skills": [{"name": "kubectl", "content": "Use kubectl."}]},
    }
    create(kube, "skillpacks", pack)
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("skilled", skills=[{"skillPackRef": "ops"}]))
        run = await wait_run(kube, "skilled", lambda o: phase(o) == "Failed")
        await _event(kube, "ops", "ConfigMapConflict")
    assert _failed(run)["reason"] == "SkillConfigMapConflict"
    assert 'ConfigMap "ops"' in run["status"]["error"]
    assert "left untouched" in run["status"]["error"]
    kept = core.read_namespaced_config_map("ops", kube.namespace)
    assert kept.data == {"password": "x"}
    assert kept.metadata.labels == {"team": "db"}
    assert _jobs(kube) == []


async def test_a_run_mounting_a_plain_configmap_fails(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    core.create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": "team-notes"}, "data": {"a.md": "secret"}}
    )
    create(kube, "clawinstances", _instance())
    async with _harness.running(_harness.settings_for(kube)):
        skills = [{"configMapRef": "team-notes"}, {"skillPackRef": "nowhere"}]
        create(kube, "agentruns", run_body("sneaky", skills=skills))
        run = await wait_run(kube, "sneaky", lambda o: phase(o) == "Failed")
    assert "rule spec.skills[0].configMapRef" in run["status"]["error"]
    assert (
        'rule spec.skills[1].skillPackRef: SkillPack "nowhere" not found'
        in (run["status"]["error"])
    )
    assert _jobs(kube) == []


@pytest.mark.parametrize("name", ["my.run", "r" * 64])
def test_the_crd_refuses_names_the_bus_or_a_job_cannot_carry(kube: KubeEnv, name: str) -> None:
    """No webhook here: the CRD schema's pattern on metadata.name refuses them (a dotted
    name would be a valid Job name but no subject token; a 64-character one no label)."""
    with pytest.raises(kubernetes.client.ApiException) as refused:
        create(kube, "agentruns", run_body(name))
    assert refused.value.status == 422
    assert "metadata.name" in refused.value.body


def test_the_precheck_refuses_such_names_from_an_older_crd() -> None:
    """Defence in depth for runs stored before the CRD had the pattern."""
    run = AgentRun.from_wire(run_body("my.run"))
    with pytest.raises(PrecheckError) as refused:
        _check_name(run)
    assert refused.value.reason == "InvalidName"
    assert "rule metadata.name" in str(refused.value)
    _check_name(AgentRun.from_wire(run_body("r" * 64)))  # left to the API server's 422


async def test_a_run_over_a_job_quota_waits_queued_and_starts_when_room_frees(
    kube: KubeEnv,
) -> None:
    """A ResourceQuota refusal frees up by itself: the run waits Pending with the API's
    message in a `Queued` condition and is retried with back-off, never failed."""
    core = kubernetes.client.CoreV1Api(kube.api_client)
    quota = {"metadata": {"name": "jobs"}, "spec": {"hard": {"count/jobs.batch": "1"}}}
    core.create_namespaced_resource_quota(kube.namespace, quota)
    create(kube, "clawinstances", _instance())

    def quota_queued(obj: dict[str, Any]) -> bool:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Queued" and c["reason"] == "QuotaExceeded" for c in conditions)

    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("first"))
        await wait_run(kube, "first", lambda o: phase(o) == "Running")
        create(kube, "agentruns", run_body("second"))
        waiting = await wait_run(kube, "second", quota_queued)
        event = await _event(kube, "second", "QuotaExceeded")
        kubernetes.client.BatchV1Api(kube.api_client).delete_namespaced_job(
            "first", kube.namespace, propagation_policy="Background"
        )
        started = await wait_run(kube, "second", lambda o: phase(o) == "Running", within=90)
    assert phase(waiting) == "Pending"
    [queued] = [c for c in waiting["status"]["conditions"] if c["type"] == "Queued"]
    assert "the API server refused the Job second: 403" in queued["message"]
    assert "exceeded quota: jobs" in queued["message"]
    assert event.type == "Warning"
    assert not quota_queued(started)
