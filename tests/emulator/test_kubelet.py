"""The process kubelet runs a trivial pod to Succeeded; its logs come back through pods/log."""

from __future__ import annotations

from k8sclaw_protocol import names
from tests.emulator._util import core, unique, wait_for
from tests.harness.kube import KubeEnv
from tests.harness.kubelet import ProcessKubelet


def _pod(name: str, command: list[str], **extra: object) -> dict[str, object]:
    container = {
        "name": "main",
        "image": "docker.io/library/python:3.11",
        "command": command,
        **extra,
    }
    return {
        "metadata": {"name": name, "labels": {names.LABEL_ROLE: names.ROLE_AGENT}},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def _phase_done(pod: dict[str, object]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")  # type: ignore[union-attr]


def test_trivial_pod_succeeds_with_logs(kube: KubeEnv, kubelet: ProcessKubelet) -> None:
    name = unique("hello")
    v1 = core(kube)
    v1.create_namespaced_pod(
        kube.namespace, _pod(name, ["python", "-c", "print('hello from the pod')"])
    )
    pod = wait_for(
        v1.list_namespaced_pod,
        _phase_done,
        namespace=kube.namespace,
        field_selector=f"metadata.name={name}",
    )
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["spec"]["nodeName"] == kubelet.node_name
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (0, "Completed")
    assert v1.read_namespaced_pod_log(name, kube.namespace) == "hello from the pod\n"


def test_failing_pod_reports_exit_code(kube: KubeEnv, kubelet: ProcessKubelet) -> None:
    name = unique("fail")
    v1 = core(kube)
    v1.create_namespaced_pod(
        kube.namespace, _pod(name, ["python", "-c", "import sys; sys.exit(3)"])
    )
    pod = wait_for(
        v1.list_namespaced_pod,
        _phase_done,
        namespace=kube.namespace,
        field_selector=f"metadata.name={name}",
    )
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
