"""kube-apiserver's ServiceAccount admission for pods: the account must exist, and its
token is mounted (`kube-api-access-*`) unless automount is off."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest

from tests.emulator._util import core, unique
from tests.harness.kube import KubeEnv

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    containers = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
    return {"metadata": {"name": name}, "spec": {"containers": containers, **spec}}


def test_a_pod_whose_service_account_is_missing_is_forbidden(kube: KubeEnv) -> None:
    name = unique("pod")
    with pytest.raises(kubernetes.client.ApiException) as info:
        core(kube).create_namespaced_pod(kube.namespace, _pod(name, serviceAccountName="nobody"))
    status = json.loads(info.value.body)
    assert (info.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        f'pods "{name}" is forbidden: error looking up service account '
        f'{kube.namespace}/nobody: serviceaccount "nobody" not found'
    )


def test_the_token_volume_is_mounted_in_every_container(kube: KubeEnv) -> None:
    pod = core(kube).create_namespaced_pod(kube.namespace, _pod(unique("pod")))
    volumes = [v for v in pod.spec.volumes if v.name.startswith("kube-api-access-")]
    assert len(volumes) == 1
    sources = volumes[0].projected.sources
    assert sources[0].service_account_token.path == "token"
    assert sources[1].config_map.name == "kube-root-ca.crt"
    assert sources[2].downward_api.items[0].field_ref.field_path == "metadata.namespace"
    for container in pod.spec.containers:
        mounts = [(m.name, m.mount_path, m.read_only) for m in container.volume_mounts]
        assert mounts == [(volumes[0].name, MOUNT, True)]


def test_no_token_volume_when_automount_is_off(kube: KubeEnv) -> None:
    v1 = core(kube)
    body = _pod(unique("pod"), automountServiceAccountToken=False)
    assert not v1.create_namespaced_pod(kube.namespace, body).spec.volumes
    account = {"metadata": {"name": unique("sa")}, "automountServiceAccountToken": False}
    v1.create_namespaced_service_account(kube.namespace, account)
    body = _pod(unique("pod"), serviceAccountName=account["metadata"]["name"])
    assert not v1.create_namespaced_pod(kube.namespace, body).spec.volumes
