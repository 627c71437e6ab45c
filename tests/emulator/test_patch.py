"""Patch formats: merge, JSON, strategic merge (built-ins only) and server-side apply."""

from __future__ import annotations

from typing import Any

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, core, custom, raw, unique
from tests.harness.kube import KubeEnv

MERGE = "application/merge-patch+json"


APPLY = "application/apply-patch+yaml"


def _patch(
    kube: KubeEnv, path: str, body: object, content_type: str, expect: int = 200, **query: str
) -> dict[str, Any]:
    status, result = raw(kube, "PATCH", path, body, content_type, **query)
    assert status == expect, result.get("message", result)
    return result


def _pod(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "busybox"},
            ]
        },
    }


def test_merge_patch_removes_with_null(kube: KubeEnv) -> None:
    name = unique("cm")
    core(kube).create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": name}, "data": {"a": "1", "b": "2"}}
    )
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{name}"
    out = _patch(kube, path, {"data": {"a": None, "c": "3"}}, "application/merge-patch+json")
    assert out["data"] == {"b": "2", "c": "3"}


def test_json_patch(kube: KubeEnv) -> None:
    name = unique("cm")
    core(kube).create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": name}, "data": {"a": "1"}}
    )
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{name}"
    ops = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    assert _patch(kube, path, ops, "application/json-patch+json")["data"] == {"b": "2"}


def test_strategic_merge_merges_containers_by_name(kube: KubeEnv) -> None:
    name = unique("pod")
    core(kube).create_namespaced_pod(kube.namespace, _pod(name))
    path = f"/api/v1/namespaces/{kube.namespace}/pods/{name}"
    patch = {"spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}
    out = _patch(kube, path, patch, "application/strategic-merge-patch+json")
    containers = {c["name"]: c for c in out["spec"]["containers"]}  # type: ignore[index]
    assert set(containers) == {"a", "b"}
    assert containers["a"]["image"] == "busybox:1.36"
    assert containers["a"]["env"] == [{"name": "X", "value": "1"}]


def test_strategic_merge_is_unsupported_for_custom_resources(kube: KubeEnv) -> None:
    name = unique("run")
    custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, agent_run(name)
    )
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{kube.namespace}/{PLURAL}/{name}"
    status, _ = raw(
        kube, "PATCH", path, {"spec": {"task": "x"}}, "application/strategic-merge-patch+json"
    )
    assert status == 415


def test_server_side_apply_creates_then_merges(kube: KubeEnv) -> None:
    name = unique("cm")
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{name}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}
    created = _patch(kube, path, body, APPLY, 201, fieldManager="test", force="true")
    assert created["data"] == {"a": "1"}
    body["data"] = {"a": "2"}
    updated = _patch(
        kube, path, body, "application/apply-patch+yaml", fieldManager="test", force="true"
    )
    assert updated["data"] == {"a": "2"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]  # type: ignore[index]


def test_apply_requires_field_manager(kube: KubeEnv) -> None:
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{unique('cm')}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    status, result = raw(kube, "PATCH", path, body, "application/apply-patch+yaml")
    assert (status, result["reason"]) == (422, "Invalid")
    assert result["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
        "for apply patch"
    )


def test_apply_merges_keyed_lists_of_built_ins(kube: KubeEnv) -> None:
    """A field another manager set inside a keyed list item survives a re-apply."""
    name = unique("apply-hook")
    path = f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}"
    hook = {
        "name": "never.k8sclaw.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Ignore",
        "objectSelector": {"matchLabels": {"never": name}},
        "clientConfig": {"url": "https://127.0.0.1:9/never"},
        "rules": [],
    }
    applied = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook],
    }
    try:
        _patch(kube, path, applied, APPLY, 201, fieldManager="installer")
        ca = [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Y2E="}]
        _patch(kube, path, ca, "application/json-patch+json", fieldManager="webhook")
        again = _patch(
            kube, path, applied, "application/apply-patch+yaml", fieldManager="installer"
        )
        assert again["webhooks"][0]["clientConfig"]["caBundle"] == "Y2E="  # type: ignore[index]
    finally:
        raw(kube, "DELETE", path)


def test_apply_body_may_be_yaml_or_json(kube: KubeEnv) -> None:
    """Apply bodies are YAML (JSON being YAML too); a body that is neither is a 400."""
    name = unique("cm")
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{name}"
    text = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"
    created = _patch(kube, path, text, APPLY, 201, fieldManager="test")
    assert created["data"] == {"a": "1"}
    as_json = '{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "2"}}'
    updated = _patch(kube, path, as_json, "application/apply-patch+yaml", fieldManager="test")
    assert updated["data"] == {"a": "2"}
    status, result = raw(
        kube, "PATCH", path, "data: [unclosed", "application/apply-patch+yaml", fieldManager="t"
    )
    assert (status, result["reason"]) == (400, "BadRequest")
    assert "could not be decoded" in result["message"]


def _applied_cm(kube: KubeEnv, manager: str, data: dict[str, str], **query: str) -> Any:
    name = unique("cm")
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps/{name}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    _patch(kube, path, body, APPLY, 201, fieldManager=manager, **query)
    return path, body


def test_apply_of_a_field_another_applier_owns_is_a_conflict(kube: KubeEnv) -> None:
    """kube-apiserver's answer, quoted: 409 Conflict naming the manager and the field."""
    path, body = _applied_cm(kube, "t", {"a": "1", "b": "2"})
    other = {**body, "data": {"a": "changed"}}
    status, result = raw(kube, "PATCH", path, other, APPLY, fieldManager="other")
    assert (status, result["reason"]) == (409, "Conflict")
    assert result["message"] == 'Apply failed with 1 conflict: conflict with "t": .data.a'
    assert result["details"]["causes"] == [
        {"type": "FieldManagerConflict", "message": 'conflict with "t"', "field": ".data.a"}
    ]
    forced = _patch(kube, path, other, APPLY, fieldManager="other", force="true")
    assert forced["data"] == {"a": "changed", "b": "2"}
    owners = {e["manager"]: e["fieldsV1"] for e in forced["metadata"]["managedFields"]}
    assert owners == {"t": {"f:data": {"f:b": {}}}, "other": {"f:data": {"f:a": {}}}}


def test_apply_of_the_same_value_shares_the_field(kube: KubeEnv) -> None:
    path, body = _applied_cm(kube, "t", {"a": "1"})
    shared = _patch(kube, path, body, APPLY, fieldManager="other")
    entries = shared["metadata"]["managedFields"]
    assert {(e["manager"], e["operation"]) for e in entries} == {("t", "Apply"), ("other", "Apply")}
    assert all(e["fieldsV1"] == {"f:data": {"f:a": {}}} for e in entries)
    order = [(e["operation"], e["time"], e["manager"]) for e in entries]
    assert order == sorted(order)  # as kube-apiserver serves them


def test_apply_conflicts_with_an_update_manager_and_lists_every_field(kube: KubeEnv) -> None:
    """A merge patch's manager (here named) owns what it changed; two fields, one message."""
    path, body = _applied_cm(kube, "t", {"a": "1"})
    _patch(kube, path, {"data": {"b": "2", "c": "3"}}, MERGE, fieldManager="editor")
    status, result = raw(
        kube, "PATCH", path, {**body, "data": {"b": "x", "c": "y"}}, APPLY, fieldManager="t"
    )
    assert status == 409
    assert result["message"] == (
        'Apply failed with 2 conflicts: conflicts with "editor" using v1:\n- .data.b\n- .data.c'
    )


def test_apply_removes_fields_its_manager_stops_sending(kube: KubeEnv) -> None:
    path, body = _applied_cm(kube, "t", {"a": "1", "b": "2"})
    _patch(kube, path, {"data": {"c": "3"}}, MERGE, fieldManager="editor")
    after = _patch(kube, path, {**body, "data": {"a": "1"}}, APPLY, fieldManager="t")
    assert after["data"] == {"a": "1", "c": "3"}


def test_apply_owns_keyed_list_items_by_their_merge_key(kube: KubeEnv) -> None:
    name = unique("pod")
    path = f"/api/v1/namespaces/{kube.namespace}/pods/{name}"
    body = {"apiVersion": "v1", "kind": "Pod", **_pod(name)}
    _patch(kube, path, body, APPLY, 201, fieldManager="t")
    patch = {"spec": {"containers": [{"name": "b", "image": "busybox:1.36"}]}}
    _patch(kube, path, patch, "application/strategic-merge-patch+json", fieldManager="editor")
    status, result = raw(kube, "PATCH", path, body, APPLY, fieldManager="t")
    assert status == 409
    assert result["details"]["causes"][0]["field"] == '.spec.containers[name="b"].image'


def test_a_write_without_field_manager_is_managed_by_its_user_agent(kube: KubeEnv) -> None:
    """kube-apiserver names the manager after the User-Agent up to its first `/`."""
    path, body = _applied_cm(kube, "t", {"a": "1"})
    _patch(kube, path, {"data": {"b": "2"}}, MERGE)
    agent = kube.api_client.user_agent.split("/")[0]
    status, result = raw(kube, "PATCH", path, {**body, "data": {"b": "x"}}, APPLY, fieldManager="t")
    assert (status, result["message"]) == (
        409,
        f'Apply failed with 1 conflict: conflict with "{agent}" using v1: .data.b',
    )


def _rules(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"toolGating": {"rules": [{"tool": t, "action": a} for t, a in pairs]}}


def test_apply_merges_a_custom_resources_map_list_by_its_keys(kube: KubeEnv) -> None:
    """A CRD list with `x-kubernetes-list-type: map` (ClawPolicy rules, keyed by `tool`) is
    merged and owned item by item: a rule someone else added survives the installer's
    re-apply, and a rule the installer stops sending (and owned alone) is removed. Real
    tool names, so the policy webhook (when installed on the cluster) accepts them."""
    name = unique("keyed")
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{kube.namespace}/clawpolicies/{name}"
    head = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClawPolicy", "metadata": {"name": name}}
    preset = {**head, "spec": _rules(("read_file", "allow"), ("execute_command", "deny"))}
    _patch(kube, path, preset, APPLY, 201, fieldManager="installer", force="true")
    edited = _rules(("read_file", "allow"), ("execute_command", "deny"), ("fetch_url", "ask"))
    _patch(kube, path, {"spec": edited}, MERGE, fieldManager="editor")

    again = _patch(kube, path, preset, APPLY, fieldManager="installer", force="true")
    rules = again["spec"]["toolGating"]["rules"]
    assert {(r["tool"], r["action"]) for r in rules} == {
        ("read_file", "allow"),
        ("execute_command", "deny"),
        ("fetch_url", "ask"),
    }
    fields = {e["manager"]: e["fieldsV1"] for e in again["metadata"]["managedFields"]}
    owned = fields["installer"]["f:spec"]["f:toolGating"]["f:rules"]
    assert set(owned) == {'k:{"tool":"read_file"}', 'k:{"tool":"execute_command"}'}
    assert set(fields["editor"]["f:spec"]["f:toolGating"]["f:rules"]) == {'k:{"tool":"fetch_url"}'}

    fewer = {**head, "spec": _rules(("read_file", "allow"))}
    last = _patch(kube, path, fewer, APPLY, fieldManager="installer", force="true")
    assert {r["tool"] for r in last["spec"]["toolGating"]["rules"]} == {"read_file", "fetch_url"}
    raw(kube, "DELETE", path)
