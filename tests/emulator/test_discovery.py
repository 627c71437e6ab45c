"""Discovery: the official client's dynamic discovery and kubectl see the built-ins and our CRDs."""

from __future__ import annotations

import os
import shutil
import subprocess

import kubernetes
import pytest

from tests.emulator._util import GROUP, VERSION, raw
from tests.harness.kube import KubeEnv


def test_group_lists_and_resources(kube: KubeEnv) -> None:
    status, groups = raw(kube, "GET", "/apis")
    assert status == 200
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "batch", GROUP, "apiextensions.k8s.io", "admissionregistration.k8s.io"} <= names
    status, resources = raw(kube, "GET", f"/apis/{GROUP}/{VERSION}")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["agentruns"]["kind"] == "AgentRun"
    assert by_name["agentruns"]["shortNames"] == ["ar"]
    assert "agentruns/status" in by_name
    status, core = raw(kube, "GET", "/api/v1")
    assert {"pods", "pods/log", "pods/status", "configmaps", "namespaces"} <= {
        r["name"] for r in core["resources"]
    }


def test_dynamic_client_finds_custom_kinds(kube: KubeEnv) -> None:
    dynamic = kubernetes.dynamic.DynamicClient(kube.api_client)
    runs = dynamic.resources.get(api_version=f"{GROUP}/{VERSION}", kind="AgentRun")
    assert runs.namespaced
    assert runs.get(namespace=kube.namespace).items == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_apply_get_delete(kube: KubeEnv) -> None:
    from k8sclaw.installer import SAMPLES_DIR

    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}

    def kubectl(*args: str) -> str:
        done = subprocess.run(
            ["kubectl", "-n", kube.namespace, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created" in kubectl("apply", "-f", str(SAMPLES_DIR / "agentrun.yaml"))
    assert "alice-run-001" in kubectl("get", "k8sclaw")
    assert "unchanged" in kubectl("apply", "-f", str(SAMPLES_DIR / "agentrun.yaml"))
    assert "deleted" in kubectl("delete", "agentrun", "alice-run-001")
