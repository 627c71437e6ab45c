"""Custom resources against their CRD's structural schema: validation, defaults, pruning."""

from __future__ import annotations

import json

import kubernetes
import pytest

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, custom, unique
from tests.harness.kube import KubeEnv


def test_defaults_are_applied(kube: KubeEnv) -> None:
    created = custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, agent_run(unique("run"))
    )
    assert created["spec"]["timeout"] == "10m"
    assert created["spec"]["agentId"] == "primary"


def test_unknown_fields_are_pruned(kube: KubeEnv) -> None:
    body = agent_run(unique("run"))
    body["spec"]["bogus"] = 1
    created = custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, body
    )
    assert "bogus" not in created["spec"]


def test_strict_field_validation_rejects_unknown_fields(kube: KubeEnv) -> None:
    body = agent_run(unique("run"))
    body["spec"]["bogus"] = 1
    with pytest.raises(kubernetes.client.ApiException) as info:
        custom(kube).create_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, PLURAL, body, field_validation="Strict"
        )
    assert info.value.status == 400
    assert 'unknown field "spec.bogus"' in json.loads(info.value.body)["message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"task": ""}, "spec.task"),
        ({"timeout": 5}, "spec.timeout"),
        ({"model": {"provider": "openai"}}, "spec.model.model"),
    ],
    ids=["empty-task", "wrong-type", "missing-required"],
)
def test_invalid_objects_are_422_with_causes(
    kube: KubeEnv, spec: dict[str, object], field: str
) -> None:
    body = agent_run(unique("run"), **spec)
    with pytest.raises(kubernetes.client.ApiException) as info:
        custom(kube).create_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL, body)
    status = json.loads(info.value.body)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    assert field in [c["field"] for c in status["details"]["causes"]]
