"""The installer's waits against the harness API: the emulator runs no Deployment
controller, so the test plays it and patches the status the wait is watching for."""

from __future__ import annotations

import threading
from typing import Any

import kubernetes
import pytest

from k8sclaw.installer import WaitTimeoutError, _wait
from k8sclaw.kube import ClusterTarget, Kube
from tests.harness.kube import KubeEnv


def _deployment(kube: KubeEnv, name: str) -> dict[str, Any]:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": kube.namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    kubernetes.client.AppsV1Api(kube.api_client).create_namespaced_deployment(kube.namespace, body)
    return body


def _set_available(kube: KubeEnv, name: str, status: str) -> None:
    """Play the Deployment controller: the current generation observed, one replica rolled
    out, and Available as given."""
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    generation = apps.read_namespaced_deployment(name, kube.namespace).metadata.generation
    ready = 1 if status == "True" else 0
    condition = {"type": "Available", "status": status, "reason": "Test", "message": ""}
    body = {
        "status": {
            "observedGeneration": generation,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": ready,
            "readyReplicas": ready,
            "conditions": [condition],
        }
    }
    apps.patch_namespaced_deployment_status(name, kube.namespace, body)


def _wait_in_thread(
    kube: KubeEnv, obj: dict[str, Any], done: Any
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []
    client = Kube.connect(ClusterTarget(str(kube.kubeconfig)))

    def run() -> None:
        try:
            _wait.wait_for(client, obj, done, timeout=60, what="Available")
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_wait_returns_when_the_deployment_becomes_available(kube: KubeEnv) -> None:
    obj = _deployment(kube, "web")
    thread, errors = _wait_in_thread(kube, obj, _wait.available)
    _set_available(kube, "web", "False")  # not yet: the wait must keep watching
    thread.join(0.5)
    assert thread.is_alive() and not errors
    _set_available(kube, "web", "True")
    thread.join(30)
    assert not thread.is_alive() and not errors


def test_wait_for_deletion_sees_the_deleted_event(kube: KubeEnv) -> None:
    obj = _deployment(kube, "old")
    thread, errors = _wait_in_thread(kube, obj, _wait.gone)
    kubernetes.client.AppsV1Api(kube.api_client).delete_namespaced_deployment("old", kube.namespace)
    thread.join(30)
    assert not thread.is_alive() and not errors


def test_wait_times_out_with_a_clear_error(kube: KubeEnv) -> None:
    obj = _deployment(kube, "stuck")
    client = Kube.connect(ClusterTarget(str(kube.kubeconfig)))
    with pytest.raises(WaitTimeoutError) as info:
        _wait.wait_for(client, obj, _wait.available, timeout=1, what="Available")
    assert str(info.value) == "timed out after 1s waiting for deployment/stuck to be Available"
    assert "--timeout" in info.value.hint and info.value.exit_code == 10


def _rollout(kind: str, generation: int, **status: int) -> dict[str, Any]:
    conditions = [{"type": "Available", "status": "True"}] if kind == "Deployment" else []
    return {
        "kind": kind,
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {**status, "conditions": conditions},
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # an old generation's Available=True must not end the wait during an upgrade
        (
            _rollout("Deployment", 2, observedGeneration=1, updatedReplicas=2, availableReplicas=2),
            False,
        ),
        (
            _rollout("Deployment", 2, observedGeneration=2, updatedReplicas=1, availableReplicas=1),
            False,
        ),
        (
            _rollout(
                "Deployment",
                2,
                observedGeneration=2,
                replicas=3,
                updatedReplicas=2,
                availableReplicas=2,
            ),
            False,
        ),
        (
            _rollout("Deployment", 2, observedGeneration=2, updatedReplicas=2, availableReplicas=1),
            False,
        ),
        (
            _rollout(
                "Deployment",
                2,
                observedGeneration=2,
                replicas=2,
                updatedReplicas=2,
                availableReplicas=2,
            ),
            True,
        ),
        (
            _rollout("StatefulSet", 1, observedGeneration=1, updatedReplicas=2, readyReplicas=1),
            False,
        ),
        (
            _rollout("StatefulSet", 1, observedGeneration=1, updatedReplicas=2, readyReplicas=2),
            True,
        ),
        (None, False),
    ],
)
def test_available_is_kubectl_rollout_status(obj: dict[str, Any] | None, expected: bool) -> None:
    assert _wait.available(obj) is expected
