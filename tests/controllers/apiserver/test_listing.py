"""The list re-encoder: every field but managedFields survives, byte-exact in meaning."""

from __future__ import annotations

from typing import Any

import kubernetes
import orjson
import pytest

from k8sclaw_controllers.apiserver._listing import EMPTY, cleaned


def _meta(name: str, namespace: str) -> dict[str, Any]:
    """A value for every ObjectMeta field the official client's model knows, so a field
    added to Kubernetes (and to the client) and missing from `_listing._Meta` fails here."""
    sample: dict[str, Any] = {
        "annotations": {"a": "1"},
        "creationTimestamp": "2026-12-05T00:00:00Z",
        "deletionGracePeriodSeconds": 30,
        "deletionTimestamp": "2026-12-05T00:01:00Z",
        "finalizers": ["k8sclaw.io/cleanup"],
        "generateName": "bot-",
        "generation": 3,
        "labels": {"k8sclaw.io/instance": "bot"},
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:task": {}}}}],
        "name": name,
        "namespace": namespace,
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u"}],
        "resourceVersion": "42",
        "selfLink": "",
        "uid": "0000-1111",
    }
    assert set(sample) == set(kubernetes.client.V1ObjectMeta.attribute_map.values())
    return sample


def _run(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": _meta(name, namespace),
        "spec": {"task": 'tâche \u2603 "quoted"\n', "nested": {"list": [1, 2.5, None, True]}},
        "status": {"phase": "Running"},
    }


def _listed(*objects: dict[str, Any]) -> bytes:
    body = {"apiVersion": "k8sclaw.io/v1alpha1", "kind": "AgentRunList", "items": list(objects)}
    body["metadata"] = {"resourceVersion": "99"}
    return orjson.dumps(body)


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def test_every_field_but_managed_fields_survives() -> None:
    runs = [_run("a", "team-a"), _run("b", "team-b")]
    assert orjson.loads(cleaned(_listed(*runs))) == {
        "items": [_without_managed_fields(r) for r in runs]
    }


def test_namespace_filter_keeps_only_the_named_namespaces() -> None:
    runs = [_run("a", "team-a"), _run("b", "team-b"), _run("c", "team-a")]
    out = orjson.loads(cleaned(_listed(*runs), {"team-a"}))
    assert [o["metadata"]["name"] for o in out["items"]] == ["a", "c"]
    assert orjson.loads(cleaned(_listed(*runs), set())) == orjson.loads(EMPTY) == {"items": []}


def test_absent_fields_stay_absent_and_empty_lists_are_lists() -> None:
    bare = {"apiVersion": "k8sclaw.io/v1alpha1", "kind": "AgentRun", "metadata": {"name": "x"}}
    assert orjson.loads(cleaned(_listed(bare))) == {"items": [bare]}
    assert orjson.loads(cleaned(b'{"kind":"AgentRunList","items":null}')) == {"items": []}


@pytest.mark.parametrize(
    "body", [b"", b"[]", b'{"items": {}}', b'{"items": [1]}', b'{"items": [{"metadata": 5}]}']
)
def test_a_body_that_is_not_a_list_of_objects_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="not a list of objects"):
        cleaned(body)
