"""Namespace deletion removes the namespace's contents, then the namespace.

Needs kube-controller-manager's namespace controller on a real cluster."""

from __future__ import annotations

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, core, custom, unique, wait_gone
from tests.harness.kube import KubeEnv


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
