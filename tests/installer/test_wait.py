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
    condition = {"type": "Available", "status": status, "reason": "Test", "message": ""}
    kubernetes.client.AppsV1Api(kube.api_client).patch_namespaced_deployment_status(
        name, kube.namespace, {"status": {"conditions": [condition]}}
    )


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
