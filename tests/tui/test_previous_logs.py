"""`p`: a restarted agent container's earlier log (kubectl logs -p), through the real
`pods/log` path: the API (emulator) proxies to the kubelet log endpoint of the pod's node,
here the harness kubelet's `LogServer` serving this pod's files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes
import pytest

from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import TextScreen
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.kube_fixtures import LOCAL_ONLY, reaches_this_machine
from tests.harness.kubelet._logserver import LogServer
from tests.tui.test_cluster import _colon, connect, names_shown, until


@pytest.fixture
def node(kube: KubeEnv, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Node whose kubelet log endpoint serves `tmp_path/<pod>/<container>.log`."""
    if not reaches_this_machine(kube):
        pytest.skip(LOCAL_ONLY)

    def lookup(namespace: str, pod: str, container: str) -> tuple[Path, Callable[[], bool]]:
        return tmp_path / pod / f"{container}.log", lambda: True

    server = LogServer(lookup).start()
    core = kubernetes.client.CoreV1Api(kube.api_client)
    name = f"logs-{kube.namespace}"
    core.create_node({"metadata": {"name": name}})
    status = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": server.port}},
    }
    core.patch_node_status(name, {"status": status})
    try:
        yield name, tmp_path
    finally:
        core.delete_node(name)
        server.stop()


def agent_pod(kube: KubeEnv, node: str, name: str, restarts: int) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    container = {"name": names.CONTAINER_AGENT, "image": "agent"}
    body = {
        "metadata": {"name": name, "labels": {names.LABEL_ROLE: names.ROLE_AGENT}},
        "spec": {"nodeName": node, "containers": [container]},
    }
    core.create_namespaced_pod(kube.namespace, body)
    state = {"name": names.CONTAINER_AGENT, "restartCount": restarts, "ready": True}
    state |= {"image": "agent", "imageID": "agent"}
    status = {"phase": "Running", "containerStatuses": [state]}
    core.patch_namespaced_pod_status(name, kube.namespace, {"status": status})


async def test_p_shows_the_log_from_before_the_restart(
    kube: KubeEnv, node: tuple[str, Path]
) -> None:
    node_name, logs = node
    for pod in ("crashy", "steady"):
        (logs / pod).mkdir()
        (logs / pod / "agent.log").write_text(f"{pod}: the current run\n")
    (logs / "crashy" / "agent.log.previous").write_text("crashy: out of memory, restarting\n")
    agent_pod(kube, node_name, "crashy", restarts=1)
    agent_pod(kube, node_name, "steady", restarts=0)
    app = K8sClawApp(connect(kube.kubeconfig), namespace=kube.namespace)
    async with app.run_test(size=(80, 24)) as pilot:
        await _colon(pilot, "pods")
        await until(pilot, lambda: sorted(names_shown(app)) == ["crashy", "steady"], "pods")
        app.table.select_key(app.store.by_name("pods", "steady").uid)
        await pilot.press("p")
        assert "pod steady has not restarted" in str(app.query_one("#message").render())
        app.table.select_key(app.store.by_name("pods", "crashy").uid)
        await pilot.press("p")
        screen = app.screen
        assert isinstance(screen, TextScreen) and "before restart 1" in screen.title_text
        await until(pilot, lambda: "crashy: out of memory, restarting" in screen.lines, "log")
        assert not any("current run" in line for line in screen.lines)
        await pilot.press("escape", "l")  # l: the current log, as before
        current = app.screen
        assert isinstance(current, TextScreen)
        await until(pilot, lambda: "crashy: the current run" in current.lines, "current log")
