"""The process kubelet runs a trivial pod to Succeeded; its logs come back through pods/log."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from k8sclaw_protocol import names
from tests.emulator._util import core, unique, wait_for
from tests.harness.kube import KubeEnv
from tests.harness.kubelet import ProcessKubelet, _volumes


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


def _failed_mount(pod: str) -> Callable[[dict[str, Any]], bool]:
    def failed_mount(event: dict[str, Any]) -> bool:
        return event["involvedObject"]["name"] == pod and event["reason"] == "FailedMount"

    return failed_mount


def _waiting(pod: dict[str, Any]) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return str(((statuses[0].get("state") or {}).get("waiting") or {}).get("reason", ""))


def test_missing_volume_source_is_a_failed_mount_until_it_exists(
    kube: KubeEnv, kubelet: ProcessKubelet
) -> None:
    """The kubelet reports what it waits for (ContainerCreating + a FailedMount Event
    naming the missing ConfigMap) and retries until it exists."""
    name, missing, v1 = unique("mount"), unique("later"), core(kube)
    pod = _pod(name, ["python", "-c", "print('mounted')"])
    pod["spec"]["volumes"] = [{"name": "config", "configMap": {"name": missing}}]  # type: ignore[index]
    v1.create_namespaced_pod(kube.namespace, pod)
    selector = {"namespace": kube.namespace, "field_selector": f"metadata.name={name}"}
    waiting = wait_for(v1.list_namespaced_pod, lambda p: _waiting(p) != "", **selector)
    assert (waiting["status"]["phase"], _waiting(waiting)) == ("Pending", "ContainerCreating")
    event = wait_for(v1.list_namespaced_event, _failed_mount(name), namespace=kube.namespace)
    assert event["type"] == "Warning"
    assert event["message"] == (
        f'MountVolume.SetUp failed for volume "config" : configmap "{missing}" not found'
    )
    v1.create_namespaced_config_map(kube.namespace, {"metadata": {"name": missing}})
    done = wait_for(v1.list_namespaced_pod, _phase_done, **selector)
    assert done["status"]["phase"] == "Succeeded"


def test_projected_sources_the_api_server_injects(kube: KubeEnv, kubelet: ProcessKubelet) -> None:
    """`kube-api-access-*` as kube-apiserver's ServiceAccount admission writes it (token,
    kube-root-ca.crt, downward API namespace), plus an optional source that is missing."""
    name, v1 = unique("projected"), core(kube)
    pod = _pod(name, ["python", "-c", "print('projected')"])
    sources = [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {
            "downwardAPI": {
                "items": [
                    {
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }
                ]
            }
        },
        {"configMap": {"name": unique("absent"), "optional": True}},
    ]
    volume = {"name": "kube-api-access-x1y2z", "projected": {"sources": sources}}
    pod["spec"]["volumes"] = [volume]  # type: ignore[index]
    v1.create_namespaced_pod(kube.namespace, pod)
    selector = {"namespace": kube.namespace, "field_selector": f"metadata.name={name}"}
    assert (
        wait_for(v1.list_namespaced_pod, _phase_done, **selector)["status"]["phase"] == "Succeeded"
    )
    files = kubelet.workdir / name / "volumes" / "kube-api-access-x1y2z"
    assert sorted(p.name for p in files.iterdir()) == ["ca.crt", "namespace", "token"]
    assert (files / "namespace").read_text() == kube.namespace
    assert "BEGIN CERTIFICATE" in (files / "ca.crt").read_text()
    assert len((files / "token").read_text().split(".")) == 3  # a JWT


def test_node_addresses_resolve_and_its_certificate_covers_them(
    kube: KubeEnv, kubelet: ProcessKubelet
) -> None:
    node = core(kube).read_node(kubelet.node_name)
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses == {"InternalIP": "127.0.0.1", "Hostname": "localhost"}
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    for host in addresses.values():
        socket.getaddrinfo(host, port)  # resolves, or raises
        context = ssl.create_default_context()
        kubelet.serving_ca.configure_trust(context)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            assert tls.version()
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"


def test_node_lease_is_renewed(kube: KubeEnv, tmp_path: Path) -> None:
    """A kubelet renews its `kube-node-lease` Lease (every 10 s; here every 0.5 s)."""
    node = ProcessKubelet(kube.api_client, kube.namespace, tmp_path, lease_interval=0.5).start()
    leases = kubernetes.client.CoordinationV1Api(kube.api_client)
    try:
        first = leases.read_namespaced_lease(node.node_name, "kube-node-lease")
        assert first.spec.holder_identity == node.node_name
        assert first.spec.lease_duration_seconds == 40
        assert first.metadata.owner_references[0].name == node.node_name
        renewed = wait_for(
            leases.list_namespaced_lease,
            lambda lease: _micro(lease["spec"]["renewTime"]) > first.spec.renew_time,
            namespace="kube-node-lease",
            field_selector=f"metadata.name={node.node_name}",
        )
        assert renewed["spec"]["holderIdentity"] == node.node_name
    finally:
        node.stop()


def _micro(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_pod_logs_go_to_the_first_preferred_node_address(kube: KubeEnv) -> None:
    """kube-apiserver dials the Node's Hostname before its InternalIP; a Hostname that
    does not resolve is a 500 naming it (why the process kubelet registers `localhost`)."""
    v1, node, name = core(kube), unique("unresolvable"), unique("pod")
    addresses = [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": "no-such-host.invalid"},
    ]
    v1.create_node({"metadata": {"name": node}})
    try:
        status = {"addresses": addresses, "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
        v1.patch_node_status(node, {"status": status})
        pod = _pod(name, ["python", "-c", "pass"])
        pod["metadata"]["labels"] = {}  # type: ignore[index]
        v1.create_namespaced_pod(kube.namespace, pod)
        binding = {"metadata": {"name": name}, "target": {"kind": "Node", "name": node}}
        v1.create_namespaced_pod_binding(name, kube.namespace, binding, _preload_content=False)
        with pytest.raises(kubernetes.client.ApiException) as info:
            v1.read_namespaced_pod_log(name, kube.namespace)
        assert info.value.status == 500
        assert "lookup no-such-host.invalid" in json.loads(info.value.body)["message"]
    finally:
        v1.delete_node(node)


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b"])
def test_volume_paths_stay_inside_the_volume(tmp_path: Path, path: str) -> None:
    """Absolute or `..` item paths are refused (kube-apiserver's validation refuses them)."""
    with pytest.raises(_volumes.MountError, match="must be relative"):
        _volumes._write(tmp_path / "v", {"k": b"x"}, [{"key": "k", "path": path}])
    assert not (tmp_path / "escape").exists()
