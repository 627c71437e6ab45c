"""The Job controller: Job → Pod named `<job>-xxxxx` with the Job labels; status from the Pod.

Needs kube-controller-manager's Job controller on a real cluster."""

from __future__ import annotations

import kubernetes
import pytest

from k8sclaw_protocol import names
from tests.emulator._util import unique, wait_for
from tests.harness.kube import KubeEnv
from tests.harness.kubelet import ProcessKubelet


def _job(name: str, code: str, backoff: int = 0) -> dict[str, object]:
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", code]}
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": {names.LABEL_ROLE: names.ROLE_AGENT}},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def _finished(job: dict[str, object]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []  # type: ignore[union-attr]
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


def test_job_creates_labelled_pod(kube: KubeEnv) -> None:
    batch, v1, name = (
        kubernetes.client.BatchV1Api(kube.api_client),
        kubernetes.client.CoreV1Api(kube.api_client),
        unique("job"),
    )
    job = batch.create_namespaced_job(kube.namespace, _job(name, "pass"))
    pod = wait_for(
        v1.list_namespaced_pod,
        lambda p: True,
        namespace=kube.namespace,
        label_selector=f"job-name={name}",
    )
    labels = pod["metadata"]["labels"]
    assert (
        pod["metadata"]["name"].startswith(f"{name}-")
        and len(pod["metadata"]["name"]) == len(name) + 6
    )
    assert labels["batch.kubernetes.io/job-name"] == name
    assert labels["controller-uid"] == job.metadata.uid
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Job", job.metadata.uid, True)


def test_job_completes_with_kubelet(kube: KubeEnv, kubelet: ProcessKubelet) -> None:
    batch, name = kubernetes.client.BatchV1Api(kube.api_client), unique("job")
    batch.create_namespaced_job(kube.namespace, _job(name, "print('done')"))
    job = wait_for(
        batch.list_namespaced_job,
        _finished,
        namespace=kube.namespace,
        field_selector=f"metadata.name={name}",
    )
    assert job["status"]["succeeded"] == 1
    assert "Complete" in [c["type"] for c in job["status"]["conditions"]]


def test_job_fails_after_backoff_limit(kube: KubeEnv, kubelet: ProcessKubelet) -> None:
    batch, name = kubernetes.client.BatchV1Api(kube.api_client), unique("job")
    batch.create_namespaced_job(kube.namespace, _job(name, "raise SystemExit(1)"))
    job = wait_for(
        batch.list_namespaced_job,
        _finished,
        namespace=kube.namespace,
        field_selector=f"metadata.name={name}",
    )
    failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"]
    assert failed and failed[0]["reason"] == "BackoffLimitExceeded"


def test_label_values_over_63_characters_are_refused(kube: KubeEnv) -> None:
    """A Job name over 63 characters is a valid object name but not a valid label value
    (the Job controller's job-name label), so kube-apiserver refuses the Job with 422."""
    batch = kubernetes.client.BatchV1Api(kube.api_client)
    long_name = unique("job") + "-" + "x" * 60
    with pytest.raises(kubernetes.client.ApiException) as refused:
        batch.create_namespaced_job(kube.namespace, _job(long_name, "pass"))
    assert refused.value.status == 422
    assert "must be no more than 63 characters" in str(refused.value.body)
    core = kubernetes.client.CoreV1Api(kube.api_client)
    bad = {"metadata": {"name": unique("cm"), "labels": {"team": "a b"}}}
    with pytest.raises(kubernetes.client.ApiException) as spaced:
        core.create_namespaced_config_map(kube.namespace, bad)
    assert spaced.value.status == 422 and "metadata.labels" in str(spaced.value.body)


def test_an_object_count_quota_refuses_the_next_job_with_403(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    quota = {"metadata": {"name": "jobs"}, "spec": {"hard": {"count/jobs.batch": "1"}}}
    core.create_namespaced_resource_quota(kube.namespace, quota)
    batch = kubernetes.client.BatchV1Api(kube.api_client)
    batch.create_namespaced_job(kube.namespace, _job(unique("job"), "pass"))
    second = unique("job")
    with pytest.raises(kubernetes.client.ApiException) as refused:
        batch.create_namespaced_job(kube.namespace, _job(second, "pass"))
    assert refused.value.status == 403
    assert f'jobs.batch \\"{second}\\" is forbidden: exceeded quota: jobs' in refused.value.body
    assert "limited: count/jobs.batch=1" in refused.value.body
