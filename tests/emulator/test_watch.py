"""List + watch: resume from a resourceVersion, timeouts, bookmarks, 410 Gone."""

from __future__ import annotations

import kubernetes
import pytest

from tests.emulator._util import core, unique
from tests.harness.kube import KubeEnv


def _events(kube: KubeEnv, **kwargs: object) -> list[tuple[str, str]]:
    watch = kubernetes.watch.Watch()
    out = []
    for event in watch.stream(
        core(kube).list_namespaced_config_map, kube.namespace, timeout_seconds=1, **kwargs
    ):
        out.append((event["type"], event["object"].metadata.name))
    return out


def test_watch_resumes_from_list_resource_version(kube: KubeEnv) -> None:
    v1, ns = core(kube), kube.namespace
    before = v1.create_namespaced_config_map(ns, {"metadata": {"name": unique("before")}})
    listing = v1.list_namespaced_config_map(ns)
    after = v1.create_namespaced_config_map(ns, {"metadata": {"name": unique("after")}})
    v1.delete_namespaced_config_map(after.metadata.name, ns)
    events = _events(kube, resource_version=listing.metadata.resource_version)
    assert ("ADDED", after.metadata.name) in events
    assert ("DELETED", after.metadata.name) in events
    assert all(name != before.metadata.name for _, name in events)


def test_watch_without_version_starts_with_current_state(kube: KubeEnv) -> None:
    name = unique("cm")
    core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": name}})
    assert ("ADDED", name) in _events(kube)


def test_watch_timeout_ends_stream(kube: KubeEnv) -> None:
    listing = core(kube).list_namespaced_config_map(kube.namespace)
    assert _events(kube, resource_version=listing.metadata.resource_version) == []


def test_bookmarks_carry_resource_version(kube: KubeEnv) -> None:
    listing = core(kube).list_namespaced_config_map(kube.namespace)
    response = core(kube).list_namespaced_config_map(
        kube.namespace,
        watch=True,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
        resource_version=listing.metadata.resource_version,
        _preload_content=False,
    )
    body = response.read().decode()
    # Bookmarks are best-effort on a real server; when sent they carry only a version.
    for line in filter(None, body.splitlines()):
        assert '"BOOKMARK"' in line and '"resourceVersion"' in line


def test_too_old_resource_version_is_gone(kube: KubeEnv) -> None:
    if kube.emulator is None:
        pytest.skip("compaction cannot be forced on a real cluster")
    listing = core(kube).list_namespaced_config_map(kube.namespace)
    core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": unique("cm")}})
    kube.emulator.compact()
    with pytest.raises(kubernetes.client.ApiException) as info:
        _events(kube, resource_version=listing.metadata.resource_version)
    assert info.value.status == 410
