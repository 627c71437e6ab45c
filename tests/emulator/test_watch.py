"""List + watch: resume from a resourceVersion, timeouts, bookmarks, 410 Gone."""

from __future__ import annotations

import json

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


def test_a_burst_arrives_whole_and_in_order(kube: KubeEnv) -> None:
    """One delete-collection request writes many events at once: a live watch gets every
    one, in order, whether the server sends them one by one or together."""
    v1, ns, prefix = core(kube), kube.namespace, unique("burst")
    names = [f"{prefix}-{i:02d}" for i in range(20)]
    for name in names:
        v1.create_namespaced_config_map(
            ns, {"metadata": {"name": name, "labels": {"burst": prefix}}}
        )
    marker = unique("marker")
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    response = v1.list_namespaced_config_map(
        ns, watch=True, resource_version=rv, timeout_seconds=30, _preload_content=False
    )
    seen: list[tuple[str, str]] = []
    try:
        lines = (json.loads(line) for line in response if line.strip())
        v1.create_namespaced_config_map(ns, {"metadata": {"name": marker}})
        assert next(lines)["object"]["metadata"]["name"] == marker  # the watch is live
        v1.delete_collection_namespaced_config_map(ns, label_selector=f"burst={prefix}")
        for event in lines:
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == len(names):
                break
    finally:
        response.close()
    assert seen == [("DELETED", name) for name in names]


def test_a_selected_watch_sees_an_object_leave_and_rejoin_as_deleted_and_added(
    kube: KubeEnv,
) -> None:
    """kube-apiserver's watch cache checks the selector on the object before and after each
    change: one that stops matching is sent as DELETED (its last matching content, at the
    change's resourceVersion), one that starts matching as ADDED; changes while it does
    not match are not sent. An unfiltered watch sees the same changes as MODIFIED."""
    v1, ns, name = core(kube), kube.namespace, unique("leaves")
    label = {"k8sclaw-test": "watched"}
    v1.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": label}})
    since = v1.list_namespaced_config_map(ns).metadata.resource_version
    unlabel = {"metadata": {"labels": {"k8sclaw-test": None}}}
    left = v1.patch_namespaced_config_map(name, ns, unlabel)
    v1.patch_namespaced_config_map(name, ns, {"data": {"while": "away"}})
    v1.patch_namespaced_config_map(name, ns, {"metadata": {"labels": label}})
    v1.patch_namespaced_config_map(name, ns, {"data": {"while": "back"}})
    v1.delete_namespaced_config_map(name, ns)

    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        v1.list_namespaced_config_map,
        ns,
        label_selector="k8sclaw-test=watched",
        resource_version=since,
        timeout_seconds=1,
    )
    seen = [(e["type"], e["object"]) for e in stream if e["object"].metadata.name == name]
    assert [kind for kind, _ in seen] == ["DELETED", "ADDED", "MODIFIED", "DELETED"]
    gone = seen[0][1]
    assert gone.metadata.labels == label  # as it was while it matched
    assert gone.metadata.resource_version == left.metadata.resource_version
    assert (seen[1][1].data or {}) == {"while": "away"}

    everything = _events(kube, resource_version=since)
    assert [kind for kind, seen_name in everything if seen_name == name] == [
        "MODIFIED",
        "MODIFIED",
        "MODIFIED",
        "MODIFIED",
        "DELETED",
    ]
