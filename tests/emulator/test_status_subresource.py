"""The status subresource: spec ignored on /status, status ignored on the main resource."""

from __future__ import annotations

from tests.emulator._util import GROUP, PLURAL, VERSION, agent_run, custom, unique
from tests.harness.kube import KubeEnv


def test_status_in_create_is_dropped(kube: KubeEnv) -> None:
    body = agent_run(unique("run"))
    body["status"] = {"phase": "Succeeded"}
    created = custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL, body
    )
    assert "phase" not in (created.get("status") or {})


def test_main_resource_ignores_status_and_status_ignores_spec(kube: KubeEnv) -> None:
    api, ns, name = custom(kube), kube.namespace, unique("run")
    api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, agent_run(name))
    main = api.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name, {"status": {"phase": "Running"}}
    )
    assert "phase" not in (main.get("status") or {})
    status = api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        PLURAL,
        name,
        {"spec": {"task": "ignored"}, "status": {"phase": "Running"}},
    )
    assert status["spec"]["task"] == "say hello"
    assert status["status"]["phase"] == "Running"
    assert status["metadata"]["generation"] == 1
