"""Fixtures `kube_server` (session) and `kube` (per test): the Kubernetes API for tests.

By default the in-process kube emulator serves the API on a free 127.0.0.1 port; with
`K8SCLAW_TEST_KUBECONFIG` set, a real cluster is used instead. Either way the K8sClaw
CRDs are installed once per session, and every test gets a fresh namespace (once its
`default` ServiceAccount and `kube-root-ca.crt` exist) that is deleted afterwards, so the
same test runs unchanged on both.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from k8sclaw.installer import CRDS_DIR
from tests.harness.kube import KubeEmulator, KubeEnv, api_client

REAL_KUBECONFIG_ENV = "K8SCLAW_TEST_KUBECONFIG"
LOCAL_APISERVER_ENV = "K8SCLAW_TEST_LOCAL_APISERVER"
LOCAL_ONLY = (
    "needs the API server to call this machine's 127.0.0.1 (a webhook): set "
    f"{LOCAL_APISERVER_ENV}=1 when the real API server runs on this machine"
)


def reaches_this_machine(kube: KubeEnv) -> bool:
    """Can the API server call back to 127.0.0.1 here (webhooks, the process kubelet)?
    The emulator can; a real one when it runs on this machine, which only the person
    running the suite knows (`K8SCLAW_TEST_LOCAL_APISERVER=1`)."""
    if kube.emulator is not None:
        return True
    return os.environ.get(LOCAL_APISERVER_ENV, "").lower() in ("1", "true", "yes")


def _real_kubeconfig() -> Path | None:
    value = os.environ.get(REAL_KUBECONFIG_ENV)
    return Path(value) if value else None


def install_crds(client: kubernetes.client.ApiClient, directory: Path = CRDS_DIR) -> list[str]:
    """Create or update every CRD in `directory` and wait until each is Established."""
    api = kubernetes.client.ApiextensionsV1Api(client)
    names = []
    for path in sorted(directory.glob("*.yaml")):
        crd: dict[str, Any] = yaml.safe_load(path.read_text())
        name = crd["metadata"]["name"]
        try:
            api.create_custom_resource_definition(crd)
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
            api.patch_custom_resource_definition(name, crd)
        names.append(name)
    for name in names:
        wait_established(api, name)
    return names


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def wait_established(
    api: kubernetes.client.ApiextensionsV1Api, name: str, timeout: int = 60
) -> None:
    """Block on a watch (not a sleep loop) until the CRD reports Established."""
    crd = api.read_custom_resource_definition(name)
    if _established(crd):
        return
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        api.list_custom_resource_definition,
        field_selector=f"metadata.name={name}",
        resource_version=crd.metadata.resource_version,
        timeout_seconds=timeout,
    ):
        if _established(event["object"]):
            watch.stop()
            return
    raise TimeoutError(
        f"CRD {name} was not Established within {timeout}s; check the API server logs"
    )


def wait_created(list_fn: Any, namespace: str, name: str, timeout: int) -> None:
    """Block on a watch until `namespace/name` exists (listed first: it may already)."""
    selector = f"metadata.name={name}"
    listing = list_fn(namespace, field_selector=selector)
    if listing.items:
        return
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        list_fn,
        namespace,
        field_selector=selector,
        resource_version=listing.metadata.resource_version,
        timeout_seconds=timeout,
    ):
        if event["type"] in ("ADDED", "MODIFIED"):
            watch.stop()
            return
    raise TimeoutError(f"{namespace}/{name} was not created within {timeout}s")


def wait_namespace_filled(
    client: kubernetes.client.ApiClient, namespace: str, timeout: int = 60
) -> None:
    """Wait for what kube-controller-manager adds to a new namespace a moment after its
    creation: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (users'
    tooling waits for them too; a pod created before its ServiceAccount exists is refused)."""
    core = kubernetes.client.CoreV1Api(client)
    wait_created(core.list_namespaced_service_account, namespace, "default", timeout)
    wait_created(core.list_namespaced_config_map, namespace, "kube-root-ca.crt", timeout)


@pytest.fixture(scope="session")
def kube_server() -> Iterator[KubeEmulator | None]:
    """The running emulator for the session, or None when a real cluster is configured."""
    if _real_kubeconfig() is not None:
        yield None
        return
    emulator = KubeEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def _kube_session(
    kube_server: KubeEmulator | None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Session kubeconfig with the K8sClaw CRDs installed."""
    real = _real_kubeconfig()
    if real is not None:
        path = real
    else:
        assert kube_server is not None
        path = kube_server.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")
    with api_client(path) as client:
        install_crds(client)
    return path


def _scoped_kubeconfig(source: Path, target: Path, namespace: str) -> Path:
    """A copy of `source` whose current context defaults to `namespace`."""
    config = yaml.safe_load(source.read_text())
    current = config.get("current-context")
    for context in config.get("contexts", []):
        if context.get("name") == current:
            context.setdefault("context", {})["namespace"] = namespace
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.fixture
def kube(
    _kube_session: Path, kube_server: KubeEmulator | None, tmp_path: Path
) -> Iterator[KubeEnv]:
    """A fresh namespace for this test (deleted afterwards) and a client for the cluster."""
    namespace = f"t-{secrets.token_hex(4)}"
    kubeconfig = _scoped_kubeconfig(_kube_session, tmp_path / "kubeconfig", namespace)
    client = api_client(kubeconfig)
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespace({"metadata": {"name": namespace, "labels": {"k8sclaw.io/test": "true"}}})
    wait_namespace_filled(client, namespace)
    env = KubeEnv(
        kubeconfig=kubeconfig,
        namespace=namespace,
        api_client=client,
        is_real=kube_server is None,
        server_url=str(client.configuration.host),
        emulator=kube_server,
    )
    try:
        yield env
    finally:
        try:
            core.delete_namespace(namespace, propagation_policy="Background")
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
        client.close()


__all__ = [
    "LOCAL_ONLY",
    "install_crds",
    "kube",
    "kube_server",
    "reaches_this_machine",
    "wait_created",
    "wait_established",
    "wait_namespace_filled",
]
