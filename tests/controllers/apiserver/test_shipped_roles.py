"""The shipped ClusterRoles mean through the API what their comments say.

Their rules are bound under unique names (cluster-scoped objects must not clash on a
real cluster where K8sClaw is installed), then exercised by two ServiceAccounts."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml

from k8sclaw.installer import MANIFESTS_DIR
from tests.controllers.apiserver._objects import instance
from tests.controllers.apiserver._server import client
from tests.harness.kube import KubeEnv
from tests.harness.rbac_users import User, bind, make_user


@pytest.fixture
def shipped(kube: KubeEnv) -> Iterator[dict[str, str]]:
    """Role name in the manifest -> the unique name it was created under."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    docs = yaml.safe_load_all((MANIFESTS_DIR / "rbac" / "userroles.yaml").read_text())
    created = {}
    for doc in docs:
        name = f"{doc['metadata']['name']}-{secrets.token_hex(3)}"
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": doc["rules"]})
        created[doc["metadata"]["name"]] = name
    yield created
    for name in created.values():
        rbac.delete_cluster_role(name)


def _user(kube: KubeEnv, name: str, role: str) -> User:
    user = make_user(kube.api_client, kube.namespace, name)
    bind(kube.api_client, kube.namespace, user, "ClusterRole", role)
    return user


def test_viewer_reads_user_runs_admin_manages(
    api: str, kube: KubeEnv, shipped: dict[str, str]
) -> None:
    ns = kube.namespace
    viewer = _user(kube, "vera", shipped["k8sclaw-viewer"])
    user = _user(kube, "ulla", shipped["k8sclaw-user"])
    admin = _user(kube, "ada", shipped["k8sclaw-admin"])
    run: dict[str, Any] = {"instanceRef": "bot", "task": "hi"}
    with client(api, viewer.token) as http:
        assert (
            http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("bot")).status_code == 403
        )
    with client(api, admin.token) as http:
        assert (
            http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("bot")).status_code == 201
        )
    with client(api, user.token) as http:
        assert (
            http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("b2")).status_code == 403
        )
        made = http.post(f"/api/v1/namespaces/{ns}/runs", json=run)
        assert made.status_code == 201, made.text
        name = made.json()["metadata"]["name"]
    with client(api, viewer.token) as http:
        assert http.get(f"/api/v1/namespaces/{ns}/runs/{name}").status_code == 200
        assert http.post(f"/api/v1/namespaces/{ns}/runs", json=run).status_code == 403
        assert http.delete(f"/api/v1/namespaces/{ns}/runs/{name}").status_code == 403
        assert http.get(f"/api/v1/namespaces/{ns}/runs/{name}/logs").status_code == 403
    with client(api, user.token) as http:
        # may read logs; the run has no pod here, so the answer is a 404 naming the transcript
        logs = http.get(f"/api/v1/namespaces/{ns}/runs/{name}/logs")
        assert logs.status_code == 404 and "transcript" in logs.json()["error"]["message"]
        assert http.delete(f"/api/v1/namespaces/{ns}/runs/{name}").status_code == 204
    with client(api, admin.token) as http:
        assert http.delete(f"/api/v1/namespaces/{ns}/instances/bot").status_code == 204
