"""Admission webhooks: HTTPS with caBundle, mutation by JSONPatch, denial, failurePolicy.

On a real API server only when it can call this machine's 127.0.0.1
(`K8SCLAW_TEST_LOCAL_APISERVER=1`); the Service-reference test needs the emulator's
`route_service`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from tests.emulator._util import core, raw, unique
from tests.emulator._webhook_server import WebhookServer, json_patch
from tests.harness.kube import KubeEnv
from tests.harness.kube_fixtures import LOCAL_ONLY, reaches_this_machine


@pytest.fixture
def admission(kube: KubeEnv) -> Iterator[kubernetes.client.AdmissionregistrationV1Api]:
    if not reaches_this_machine(kube):
        pytest.skip(LOCAL_ONLY)
    api = kubernetes.client.AdmissionregistrationV1Api(kube.api_client)
    yield api
    for config in api.list_validating_webhook_configuration(
        label_selector=f"test={kube.namespace}"
    ).items:
        api.delete_validating_webhook_configuration(config.metadata.name)
    for config in api.list_mutating_webhook_configuration(
        label_selector=f"test={kube.namespace}"
    ).items:
        api.delete_mutating_webhook_configuration(config.metadata.name)


def _config(kube: KubeEnv, client_config: dict[str, Any], policy: str = "Fail") -> dict[str, Any]:
    hook = {
        "name": "cm.test.k8sclaw.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": policy,
        "clientConfig": client_config,
        "timeoutSeconds": 5,
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": kube.namespace}},
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            }
        ],
    }
    return {
        "metadata": {"name": unique("hook"), "labels": {"test": kube.namespace}},
        "webhooks": [hook],
    }


def test_mutating_webhook_patches_object(kube: KubeEnv, admission: Any) -> None:
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
    with WebhookServer(lambda request: json_patch(ops)) as server:
        url = {"url": f"https://127.0.0.1:{server.port}/mutate", "caBundle": server.ca_bundle}
        admission.create_mutating_webhook_configuration(_config(kube, url))
        cm = core(kube).create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": unique("cm")}}
        )
        assert cm.metadata.labels == {"mutated": "yes"}
        request = server.requests[0]
        assert (request["operation"], request["kind"]["kind"], request["namespace"]) == (
            "CREATE",
            "ConfigMap",
            kube.namespace,
        )


def test_validating_webhook_denial(kube: KubeEnv, admission: Any) -> None:
    deny = {
        "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": "no configmaps today"},
    }
    with WebhookServer(lambda request: deny) as server:
        url = {"url": f"https://127.0.0.1:{server.port}/validate", "caBundle": server.ca_bundle}
        admission.create_validating_webhook_configuration(_config(kube, url))
        status, body = raw(
            kube,
            "POST",
            f"/api/v1/namespaces/{kube.namespace}/configmaps",
            {"metadata": {"name": "x"}},
        )
    assert status == 403
    assert (
        body["message"]
        == 'admission webhook "cm.test.k8sclaw.io" denied the request: no configmaps today'
    )


def test_service_reference_is_verified_against_service_name(kube: KubeEnv, admission: Any) -> None:
    if kube.emulator is None:
        pytest.skip("routes a Service to this machine, which only the emulator can (route_service)")
    with WebhookServer(
        lambda request: {"allowed": True}, hostnames=("hook.k8sclaw-test.svc",)
    ) as server:
        kube.emulator.route_service("k8sclaw-test", "hook", "127.0.0.1", server.port)
        ref = {
            "service": {"namespace": "k8sclaw-test", "name": "hook", "path": "/v"},
            "caBundle": server.ca_bundle,
        }
        admission.create_validating_webhook_configuration(_config(kube, ref))
        core(kube).create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": unique("cm")}}
        )
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("policy", "expected"), [("Fail", 500), ("Ignore", 201)], ids=["fail", "ignore"]
)
def test_failure_policy_on_untrusted_certificate(
    kube: KubeEnv, admission: Any, policy: str, expected: int
) -> None:
    with (
        WebhookServer(lambda request: {"allowed": True}) as server,
        WebhookServer(lambda r: {"allowed": True}) as other,
    ):
        url = {"url": f"https://127.0.0.1:{server.port}/v", "caBundle": other.ca_bundle}
        admission.create_validating_webhook_configuration(_config(kube, url, policy))
        status, body = raw(
            kube,
            "POST",
            f"/api/v1/namespaces/{kube.namespace}/configmaps",
            {"metadata": {"name": "x"}},
        )
    assert status == expected, body
    if expected == 500:
        assert body["reason"] == "InternalError"
        assert 'failed calling webhook "cm.test.k8sclaw.io"' in body["message"]
