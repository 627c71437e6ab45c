"""The install and uninstall paths close every connection they open.

On a real API server the uninstall's waits last long enough for its connections to pile
up; left to the garbage collector they surfaced as `ResourceWarning: unclosed <socket>`
at some later test's teardown. Here: this process's connections to the API server are
counted before and after a command (the CLI's own client must be closed by then, not
left to the collector), and a forced collection must find no unclosed socket.
"""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes
from click.testing import CliRunner, Result

from k8sclaw import installer
from k8sclaw.cli import cli
from k8sclaw.kube import ClusterTarget, Kube
from tests.harness.kube import KubeEnv
from tests.installer.test_install_cluster import cluster

__all__ = ["cluster"]


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def connections_to(port: int) -> int:
    """This process's established TCP connections to `port` (Linux /proc)."""
    mine, count = _socket_inodes(), 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in mine:
                count += 1
    return count


def _command(kube: KubeEnv, port: int, *args: str) -> Result:
    """Run one CLI command; fail if it left a connection open or a socket unclosed."""
    before = connections_to(port)
    result = CliRunner().invoke(cli, [*args, "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 0, result.stderr
    assert connections_to(port) <= before, f"{args[0]} left connections open"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]
    return result


def test_install_and_uninstall_close_their_connections(cluster: KubeEnv) -> None:
    url = urlsplit(cluster.server_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    _command(cluster, port, "install", "--timeout", "60", "--no-wait")
    result = _command(cluster, port, "uninstall", "--yes", "--timeout", "60")
    assert "deleted namespace/k8sclaw-system" in result.stderr


def test_a_wait_closes_the_watch_it_leaves_before_its_end(kube: KubeEnv) -> None:
    """The watch would last a minute; the wait is done at its first event and must not
    leave the connection open (nor hand it, mid-stream, to the next request)."""
    port = urlsplit(kube.server_url).port or 443
    client = Kube.connect(ClusterTarget(str(kube.kubeconfig)))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "waited"}}
    obj = client.request(
        "POST", f"/api/v1/namespaces/{kube.namespace}/configmaps", what="cm", body=body
    )
    core = kubernetes.client.CoreV1Api(kube.api_client)
    calls: list[object] = []

    def ready(current: dict[str, Any] | None) -> bool:
        if not calls:  # the LIST: change it now, the watch from the list's version sees it
            core.patch_namespaced_config_map("waited", kube.namespace, {"data": {"ok": "y"}})
        calls.append(current)
        return bool(current and (current.get("data") or {}).get("ok"))

    try:
        before = connections_to(port)
        installer.wait_for(client, obj, ready, timeout=60, what="ready")
        assert len(calls) == 2  # the LIST, then the watch's MODIFIED
        assert connections_to(port) <= before
        assert client.get_raw("v1", "ConfigMap", "waited", kube.namespace)["data"] == {"ok": "y"}
    finally:
        client.close()
