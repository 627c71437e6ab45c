"""`KubeEnv`: what the `kube` fixture hands a test (fixed interface, see the harness README)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import kubernetes

if TYPE_CHECKING:
    from tests.harness.kube._emulator import KubeEmulator


@dataclass
class KubeEnv:
    """One test's view of the cluster: its kubeconfig, its own namespace, a client."""

    kubeconfig: Path
    namespace: str
    api_client: kubernetes.client.ApiClient
    is_real: bool
    server_url: str
    emulator: KubeEmulator | None
