"""Namespace deletion removes the namespace's contents, then the namespace.

Needs kube-controller-manager's namespace controller on a real cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, core, custom, unique, wait_gone
from tests.harness.kube import KubeEmulator, KubeEnv, api_client
from tests.harness.kube_fixtures import wait_namespace_filled


def test_namespace_deletion_removes_contents(kube: KubeEnv) -> None:
    v1, ns = core(kube), unique("ns")
    v1.create_namespace({"metadata": {"name": ns}})
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, agent_run("run"))
    deleting = v1.delete_namespace(ns)  # the client hands back the Namespace as a plain dict
    assert deleting["status"]["phase"] == "Terminating"
    wait_gone(v1.list_namespace, ns)
    assert v1.list_namespaced_config_map(ns).items == []
    assert custom(kube).list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"] == []


def test_namespace_carries_its_name_label(kube: KubeEnv) -> None:
    ns = core(kube).read_namespace(kube.namespace)
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == kube.namespace
    assert ns.status.phase == "Active"


def test_the_namespace_fixture_waits_for_the_defaults(kube: KubeEnv) -> None:
    v1 = core(kube)
    assert v1.read_namespaced_service_account("default", kube.namespace).metadata.name
    assert "ca.crt" in v1.read_namespaced_config_map("kube-root-ca.crt", kube.namespace).data


@contextmanager
def _emulator(tmp_path: Path, **options: Any) -> Iterator[kubernetes.client.CoreV1Api]:
    emulator = KubeEmulator(**options).start()
    try:
        with api_client(emulator.write_kubeconfig(tmp_path / "kubeconfig")) as client:
            yield kubernetes.client.CoreV1Api(client)
    finally:
        emulator.stop()


def test_defaults_arrive_after_the_namespace(tmp_path: Path) -> None:
    """As kube-controller-manager's controllers add them: a moment after the namespace
    (here a long moment), so a list right after its creation may find neither."""
    with _emulator(tmp_path, namespace_fill_delay=3.0) as v1:
        v1.create_namespace({"metadata": {"name": "late"}})
        assert v1.list_namespaced_config_map("late").items == []
        assert v1.list_namespaced_service_account("late").items == []
        wait_namespace_filled(v1.api_client, "late")
        assert [c.metadata.name for c in v1.list_namespaced_config_map("late").items] == [
            "kube-root-ca.crt"
        ]


def test_namespace_writes_are_paced_by_the_controllers_rate_limit(tmp_path: Path) -> None:
    """One token (burst 1) refilled every 1,000 s: of the writes that fill the system
    namespaces at start-up, the first takes it and the others wait, as behind
    kube-controller-manager's client limiter."""
    with _emulator(
        tmp_path, namespace_fill_delay=0, controller_qps=0.001, controller_burst=1
    ) as v1:
        watch = kubernetes.watch.Watch()
        for event in watch.stream(v1.list_service_account_for_all_namespaces, timeout_seconds=60):
            assert event["type"] == "ADDED"
            watch.stop()
        accounts = v1.list_service_account_for_all_namespaces().items
        maps = [  # kube-apiserver's own published trust is not a controller write
            m
            for m in v1.list_config_map_for_all_namespaces().items
            if m.metadata.name != "extension-apiserver-authentication"
        ]
        assert (len(accounts), len(maps)) == (1, 0)
