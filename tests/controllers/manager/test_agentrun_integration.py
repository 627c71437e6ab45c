"""AgentRun reconciler against the Kubernetes API (emulator, or a real cluster)."""

from __future__ import annotations

import asyncio

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv, _podsecurity


def jobs(kube: KubeEnv) -> list[kubernetes.client.V1Job]:
    return list(
        kubernetes.client.BatchV1Api(kube.api_client).list_namespaced_job(kube.namespace).items
    )


async def test_a_run_gets_exactly_one_restricted_job_and_becomes_running(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    core.patch_namespace(
        kube.namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    create(kube, "clawinstances", instance_body())
    async with _harness.running(_harness.settings_for(kube)):
        created = create(kube, "agentruns", run_body("r1"))
        run = await wait_run(kube, "r1", lambda o: phase(o) == "Running")
        if not kube.is_real:
            # The emulator's Job controller creates the pod through Pod Security admission
            # (a real cluster without nodes would too, via kube-controller-manager).
            pod = await _harness.wait_for(
                core.list_namespaced_pod,
                lambda p: True,
                namespace=kube.namespace,
                label_selector="k8sclaw.io/agent-run=r1",
            )
            assert pod.metadata.labels["k8sclaw.io/instance"] == "alice"
    weak = {
        "metadata": {"name": "weak"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_pod(kube.namespace, weak)  # the control: PSS is really enforced
    assert refused.value.status == 403
    status = run["status"]
    assert status["jobName"] == "r1"
    assert status["startedAt"]
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Progressing"}
    [job] = jobs(kube)
    assert job.metadata.name == "r1"
    assert job.metadata.owner_references[0].uid == created["metadata"]["uid"]
    pod_spec = kube.api_client.sanitize_for_serialization(job.spec.template.spec)
    assert _podsecurity.violations("restricted", pod_spec) == []
    assert job.spec.template.metadata.labels["k8sclaw.io/role"] == "agent"
    # No finalizer: the Job's controller ownerReference cascades the run's deletion.
    assert "k8sclaw.io/agentrun-finalizer" not in (run["metadata"].get("finalizers") or [])
    sa = core.read_namespaced_service_account("k8sclaw-agent", kube.namespace)
    assert sa.metadata.name == "k8sclaw-agent"


async def test_a_run_of_a_missing_instance_fails_with_a_hint(kube: KubeEnv) -> None:
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("orphan", instance="ghost"))
        run = await wait_run(kube, "orphan", lambda o: phase(o) == "Failed")
    assert "ClawInstance 'ghost' not found" in run["status"]["error"]
    assert jobs(kube) == []
    assert "k8sclaw.io/agentrun-finalizer" not in (run["metadata"].get("finalizers") or [])


async def test_a_timeout_fails_the_run_and_deletes_the_job(kube: KubeEnv) -> None:
    create(kube, "clawinstances", instance_body())
    async with _harness.running(_harness.settings_for(kube)):
        create(kube, "agentruns", run_body("slow", timeout="1s"))
        run = await wait_run(kube, "slow", lambda o: phase(o) == "Failed")
        failed = {c["type"]: c for c in run["status"]["conditions"]}["Failed"]
        assert failed["reason"] == "Timeout"
        assert "timeout of 1s" in run["status"]["error"]
        api = kubernetes.client.BatchV1Api(kube.api_client)
        with pytest.raises(kubernetes.client.ApiException) as gone:
            await asyncio.to_thread(_read_or_wait_deleted, api, kube.namespace, "slow")
        assert gone.value.status == 404


def _read_or_wait_deleted(api: kubernetes.client.BatchV1Api, namespace: str, name: str) -> None:
    """Raise 404 once the Job is gone (foreground deletion may take a moment)."""
    job = api.read_namespaced_job(name, namespace)
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        api.list_namespaced_job,
        namespace=namespace,
        field_selector=f"metadata.name={name}",
        resource_version=job.metadata.resource_version,
        timeout_seconds=30,
    ):
        if event["type"] == "DELETED":
            watch.stop()
            break
    api.read_namespaced_job(name, namespace)
