"""Every write is a new version: the history replays each object exactly as it was written.

The emulator shares unchanged parts between an object's versions instead of copying them
(its stored objects are immutable); a write that changed a stored object in place would
rewrite the past, and a watch resuming from before it would see the later state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, core, custom, raw, unique
from tests.harness.kube import KubeEnv

Obj = dict[str, Any]


def _replay(list_fn: Callable[..., Any], rv: str, name: str, count: int) -> list[Obj]:
    """The first `count` watch events for `name` after `rv`, as written on the wire."""
    response = list_fn(
        watch=True,
        resource_version=rv,
        field_selector=f"metadata.name={name}",
        timeout_seconds=30,
        _preload_content=False,
    )
    seen: list[Obj] = []
    try:
        for line in response:
            if line.strip():
                seen.append(json.loads(line))
            if len(seen) == count:
                break
    finally:
        response.close()
    return seen


def _ok(result: tuple[int, Obj]) -> Obj:
    status, body = result
    assert status in (200, 201), body
    return body


def test_custom_resource_versions_replay_as_written(kube: KubeEnv) -> None:
    api, ns, name = custom(kube), kube.namespace, unique("run")
    rv = api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["metadata"][
        "resourceVersion"
    ]
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}/{name}"
    merge, jsonp = "application/merge-patch+json", "application/json-patch+json"
    written = [api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, agent_run(name))]
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "Waiting",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }
    status = {"status": {"phase": "Pending", "conditions": [ready]}}
    written.append(_ok(raw(kube, "PATCH", f"{path}/status", status, merge)))
    again = {**written[-1], "status": {"phase": "Running", "jobName": name}}
    written.append(_ok(raw(kube, "PUT", f"{path}/status", again)))
    labels = {"metadata": {"labels": {"tier": "a"}}, "spec": {"task": "changed"}}
    written.append(_ok(raw(kube, "PATCH", path, labels, merge)))
    ops = [{"op": "replace", "path": "/spec/task", "value": "again"}]
    written.append(_ok(raw(kube, "PATCH", path, ops, jsonp)))
    applied = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentRun", "spec": {"task": "ssa"}}
    # The product applies with force (`k8sclaw.kube` and the controller); without it this
    # apply conflicts with the merge patches' manager, which set `spec.task` first.
    query = {"fieldManager": "test", "force": "true"}
    written.append(_ok(raw(kube, "PATCH", path, applied, "application/apply-patch+yaml", **query)))
    replaced = {**written[-1], "metadata": {**written[-1]["metadata"], "labels": {"tier": "b"}}}
    written.append(_ok(raw(kube, "PUT", path, replaced)))

    def listing(**kwargs: Any) -> Any:
        return api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kwargs)

    events = _replay(listing, rv, name, len(written))
    assert [e["type"] for e in events] == ["ADDED"] + ["MODIFIED"] * (len(written) - 1)
    assert [e["object"] for e in events] == written
    assert len({w["metadata"]["resourceVersion"] for w in written}) == len(written)
    assert [c["reason"] for c in written[1]["status"]["conditions"]] == ["Waiting"]
    assert "conditions" not in written[2]["status"]


def test_built_in_versions_replay_as_written(kube: KubeEnv) -> None:
    v1, ns, name = core(kube), kube.namespace, unique("cm")
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    path = f"/api/v1/namespaces/{ns}/configmaps/{name}"
    strategic = "application/strategic-merge-patch+json"
    body = {"metadata": {"name": name, "labels": {"a": "1"}}, "data": {"x": "1"}}
    written = [_ok(raw(kube, "POST", f"/api/v1/namespaces/{ns}/configmaps", body))]
    written.append(_ok(raw(kube, "PATCH", path, {"data": {"y": "2"}}, strategic)))
    written.append(_ok(raw(kube, "PATCH", path, {"metadata": {"labels": {"b": "2"}}}, strategic)))
    written.append(_ok(raw(kube, "PATCH", path, {"data": {"x": None}}, strategic)))

    def listing(**kwargs: Any) -> Any:
        return v1.list_namespaced_config_map(ns, **kwargs)

    events = _replay(listing, rv, name, len(written))
    assert [e["object"] for e in events] == written
    both = {"x": "1", "y": "2"}
    assert [w["data"] for w in written] == [{"x": "1"}, both, both, {"y": "2"}]
    assert written[1]["metadata"]["labels"] == {"a": "1"}
