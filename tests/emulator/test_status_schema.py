"""Status-subresource writes against the CRD schema: only `.status` is pruned, defaulted
and validated (the status strategy's scope), with the same causes as any other write."""

from __future__ import annotations

import json

import kubernetes
import pytest

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, custom, unique
from tests.harness.kube import KubeEnv


def _status_write(kube: KubeEnv, status: dict[str, object], **kwargs: str) -> dict[str, object]:
    name = unique("run")
    api = custom(kube)
    api.create_namespaced_custom_object(GROUP, VERSION, kube.namespace, PLURAL, agent_run(name))
    result: dict[str, object] = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, kube.namespace, PLURAL, name, {"status": status}, **kwargs
    )
    return result


def test_status_writes_validate_the_status_with_every_cause(kube: KubeEnv) -> None:
    with pytest.raises(kubernetes.client.ApiException) as info:
        _status_write(kube, {"phase": "Done", "exitCode": "x"})
    status = json.loads(info.value.body)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    causes = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert set(causes) == {"status.phase", "status.exitCode"}
    assert causes["status.phase"].startswith('Unsupported value: "Done": supported values: ')


def test_status_writes_prune_unknown_status_fields(kube: KubeEnv) -> None:
    written = _status_write(kube, {"phase": "Running", "bogus": 1})
    assert written["status"] == {"phase": "Running"}
    with pytest.raises(kubernetes.client.ApiException) as info:
        _status_write(kube, {"phase": "Running", "bogus": 1}, field_validation="Strict")
    status = json.loads(info.value.body)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"].endswith('strict decoding error: unknown field "status.bogus"')
    assert [c["field"] for c in status["details"]["causes"]] == ["patch"]


def test_strict_create_and_update_answer_bad_request(kube: KubeEnv) -> None:
    """POST and PUT with `fieldValidation=Strict` answer 400 (only patches answer 422)."""
    api, name = custom(kube), unique("run")
    body = agent_run(name)
    body["spec"]["bogus"] = 1
    with pytest.raises(kubernetes.client.ApiException) as info:
        api.create_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, PLURAL, body, field_validation="Strict"
        )
    assert info.value.status == 400
    assert (
        'strict decoding error: unknown field "spec.bogus"'
        in json.loads(info.value.body)["message"]
    )
