"""Fixture `kubelet`: a process kubelet for the test's namespace (see tests/harness/kubelet)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.kube import KubeEnv
from tests.harness.kubelet import ProcessKubelet


@pytest.fixture
def kubelet(kube: KubeEnv, tmp_path: Path) -> Iterator[ProcessKubelet]:
    """Runs pods labelled `k8sclaw.io/role=agent` in `kube.namespace`; stopped (processes
    killed, Node removed) after the test."""
    node = ProcessKubelet(kube.api_client, kube.namespace, tmp_path / "kubelet").start()
    try:
        yield node
    finally:
        node.stop()


__all__ = ["kubelet"]
