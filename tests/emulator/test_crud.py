"""CRUD semantics: system metadata, generateName, Status errors with the right reason/code."""

from __future__ import annotations

import json

import kubernetes
import pytest

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, core, custom, unique
from tests.harness.kube import KubeEnv

ApiException = kubernetes.client.ApiException


def _status(exc: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.body)
    return body


def test_create_sets_system_metadata(kube: KubeEnv) -> None:
    cm = core(kube).create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": unique("cm")}}
    )
    assert cm.metadata.uid and cm.metadata.resource_version and cm.metadata.creation_timestamp
    assert cm.metadata.namespace == kube.namespace


def test_generate_name(kube: KubeEnv) -> None:
    cm = core(kube).create_namespaced_config_map(
        kube.namespace, {"metadata": {"generateName": "gen-"}}
    )
    assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) == len("gen-") + 5


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("already-exists", 409, "AlreadyExists"),
        ("not-found", 404, "NotFound"),
        ("conflict", 409, "Conflict"),
        ("invalid-name", 422, "Invalid"),
        ("namespace-mismatch", 400, "BadRequest"),
    ],
    ids=str,
)
def test_errors_are_status_objects(kube: KubeEnv, case: str, code: int, reason: str) -> None:
    v1, ns, name = core(kube), kube.namespace, unique("cm")
    cm = v1.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"a": "1"}})
    calls = {
        "already-exists": lambda: v1.create_namespaced_config_map(ns, {"metadata": {"name": name}}),
        "not-found": lambda: v1.read_namespaced_config_map("missing", ns),
        "conflict": lambda: v1.replace_namespaced_config_map(
            name,
            ns,
            {
                "metadata": {
                    "name": name,
                    "resourceVersion": str(int(cm.metadata.resource_version) - 1),
                }
            },
        ),
        "invalid-name": lambda: v1.create_namespaced_config_map(
            ns, {"metadata": {"name": "Not_Valid"}}
        ),
        "namespace-mismatch": lambda: v1.create_namespaced_config_map(
            ns, {"metadata": {"name": "x", "namespace": "other"}}
        ),
    }
    with pytest.raises(ApiException) as info:
        calls[case]()
    status = _status(info.value)
    assert (info.value.status, status["kind"], status["reason"], status["code"]) == (
        code,
        "Status",
        reason,
        code,
    )


def test_update_with_stale_version_conflicts_then_succeeds(kube: KubeEnv) -> None:
    v1, ns, name = core(kube), kube.namespace, unique("cm")
    first = v1.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"a": "1"}})
    first.data = {"a": "2"}
    second = v1.replace_namespaced_config_map(name, ns, first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.data = {"a": "3"}
    with pytest.raises(ApiException) as info:
        v1.replace_namespaced_config_map(name, ns, first)
    assert info.value.status == 409
    assert "the object has been modified" in _status(info.value)["message"]  # type: ignore[operator]


def test_custom_resource_update_requires_resource_version(kube: KubeEnv) -> None:
    api, ns, name = custom(kube), kube.namespace, unique("run")
    api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, agent_run(name))
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name, agent_run(name, "other")
        )
    assert info.value.status == 422


def test_generation_bumps_on_spec_change_only(kube: KubeEnv) -> None:
    api, ns, name = custom(kube), kube.namespace, unique("run")
    created = api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, agent_run(name))
    labelled = api.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name, {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == created["metadata"]["generation"] == 1
    changed = api.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name, {"spec": {"task": "new"}}
    )
    assert changed["metadata"]["generation"] == 2


def test_create_in_missing_namespace_is_not_found(kube: KubeEnv) -> None:
    with pytest.raises(ApiException) as info:
        core(kube).create_namespaced_config_map(unique("nope"), {"metadata": {"name": "x"}})
    assert info.value.status == 404
    assert _status(info.value)["details"]["kind"] == "namespaces"  # type: ignore[index]


def test_delete_missing_is_not_found(kube: KubeEnv) -> None:
    with pytest.raises(ApiException) as info:
        core(kube).delete_namespaced_secret("missing", kube.namespace)
    assert (info.value.status, _status(info.value)["reason"]) == (404, "NotFound")


def test_new_namespace_gets_default_service_account(kube: KubeEnv) -> None:
    from tests.emulator._util import wait_for

    sa = wait_for(
        core(kube).list_namespaced_service_account,
        lambda o: o["metadata"]["name"] == "default",
        namespace=kube.namespace,
    )
    assert sa["metadata"]["namespace"] == kube.namespace


def test_list_items_are_typed_for_custom_resources_only(kube: KubeEnv) -> None:
    """kube-apiserver's list items of built-in types carry no apiVersion/kind; those of a
    custom resource (stored unstructured) carry both."""
    core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": unique("cm")}})
    custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, agent_run(unique("run"))
    )
    raw = core(kube).list_namespaced_config_map(kube.namespace, _preload_content=False)
    configmaps = json.loads(raw.data)["items"]  # as sent (the client's models fill them in)
    runs = custom(kube).list_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL)
    assert configmaps and all("kind" not in i and "apiVersion" not in i for i in configmaps)
    assert runs["items"] and all(
        (i["apiVersion"], i["kind"]) == (f"{GROUP}/{VERSION}", "AgentRun") for i in runs["items"]
    )
