"""Owner-reference garbage collection: background, foreground and orphan propagation.

Needs kube-controller-manager's garbage collector on a real cluster."""

from __future__ import annotations

import kubernetes
import pytest

from tests.emulator._util import core, unique, wait_for, wait_gone
from tests.harness.kube import KubeEnv


def _owner_and_child(kube: KubeEnv) -> tuple[str, str]:
    v1, ns = core(kube), kube.namespace
    owner = v1.create_namespaced_config_map(ns, {"metadata": {"name": unique("owner")}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": True,
    }
    child = v1.create_namespaced_secret(
        ns, {"metadata": {"name": unique("child"), "ownerReferences": [ref]}}
    )
    return owner.metadata.name, child.metadata.name


def test_background_deletion_collects_dependents(kube: KubeEnv) -> None:
    owner, child = _owner_and_child(kube)
    core(kube).delete_namespaced_config_map(owner, kube.namespace, propagation_policy="Background")
    wait_gone(core(kube).list_namespaced_secret, child, namespace=kube.namespace)


def test_foreground_deletion_waits_for_dependents(kube: KubeEnv) -> None:
    owner, child = _owner_and_child(kube)
    core(kube).delete_namespaced_config_map(owner, kube.namespace, propagation_policy="Foreground")
    wait_gone(core(kube).list_namespaced_secret, child, namespace=kube.namespace)
    wait_gone(core(kube).list_namespaced_config_map, owner, namespace=kube.namespace)


def test_orphan_deletion_keeps_dependents(kube: KubeEnv) -> None:
    owner, child = _owner_and_child(kube)
    core(kube).delete_namespaced_config_map(owner, kube.namespace, propagation_policy="Orphan")
    wait_gone(core(kube).list_namespaced_config_map, owner, namespace=kube.namespace)
    orphan = wait_for(
        core(kube).list_namespaced_secret,
        lambda o: not o["metadata"].get("ownerReferences"),
        namespace=kube.namespace,
        field_selector=f"metadata.name={child}",
    )
    assert orphan["metadata"]["name"] == child


def test_new_finalizers_are_refused_while_deleting(kube: KubeEnv) -> None:
    v1, ns, name = core(kube), kube.namespace, unique("cm")
    v1.create_namespaced_config_map(
        ns, {"metadata": {"name": name, "finalizers": ["example.com/a"]}}
    )
    v1.delete_namespaced_config_map(name, ns)
    with pytest.raises(kubernetes.client.ApiException) as info:
        v1.patch_namespaced_config_map(
            name, ns, {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}}
        )
    assert info.value.status == 422
    v1.patch_namespaced_config_map(name, ns, {"metadata": {"finalizers": None}})
    wait_gone(v1.list_namespaced_config_map, name, namespace=ns)
