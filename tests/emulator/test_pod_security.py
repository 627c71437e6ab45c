"""Pod Security admission: enforce labels reject pods with kube-apiserver's messages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator._util import core, raw, unique
from tests.harness.kube import KubeEnv

RESTRICTED_OK = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "image": "busybox",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
}


def _label(kube: KubeEnv, level: str) -> None:
    core(kube).patch_namespace(
        kube.namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": level}}}
    )


def _create(kube: KubeEnv, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = {"metadata": {"name": unique("pod")}, "spec": spec}
    return raw(kube, "POST", f"/api/v1/namespaces/{kube.namespace}/pods", body)


def test_restricted_rejects_a_bare_pod(kube: KubeEnv) -> None:
    _label(kube, "restricted")
    status, body = _create(kube, {"containers": [{"name": "c", "image": "busybox"}]})
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"].endswith(
        'is forbidden: violates PodSecurity "restricted:latest": '
        "allowPrivilegeEscalation != false "
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
        "unrestricted capabilities "
        '(container "c" must set securityContext.capabilities.drop=["ALL"]), '
        "runAsNonRoot != true "
        '(pod or container "c" must set securityContext.runAsNonRoot=true), '
        "seccompProfile "
        '(pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    )


def test_restricted_admits_a_hardened_pod(kube: KubeEnv) -> None:
    _label(kube, "restricted")
    assert _create(kube, RESTRICTED_OK)[0] == 201


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (
            {"hostNetwork": True, "containers": [{"name": "c", "image": "busybox"}]},
            "host namespaces (hostNetwork=true)",
        ),
        (
            {
                "containers": [
                    {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
                ]
            },
            'privileged (container "c" must not set securityContext.privileged=true)',
        ),
    ],
    ids=["host-network", "privileged"],
)
def test_baseline_rejects(kube: KubeEnv, spec: dict[str, Any], text: str) -> None:
    _label(kube, "baseline")
    status, body = _create(kube, spec)
    assert status == 403
    assert body["message"].endswith(f'violates PodSecurity "baseline:latest": {text}')


def test_baseline_admits_a_bare_pod(kube: KubeEnv) -> None:
    _label(kube, "baseline")
    assert _create(kube, {"containers": [{"name": "c", "image": "busybox"}]})[0] == 201
