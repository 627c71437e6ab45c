"""TokenRequest, TokenReview and SubjectAccessReview answer as kube-apiserver does.

Runs unchanged on a real cluster (K8SCLAW_TEST_KUBECONFIG): users are ServiceAccounts of
the test namespace, their tokens come from the TokenRequest API.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from tests.harness.kube import KubeEnv
from tests.harness.rbac_users import (
    User,
    bind,
    claw_rules,
    configuration_as,
    grant,
    make_user,
)


def _review_token(kube: KubeEnv, token: str) -> Any:
    api = kubernetes.client.AuthenticationV1Api(kube.api_client)
    return api.create_token_review({"spec": {"token": token}}).status


def _may(kube: KubeEnv, user: User, verb: str, namespace: str, resource: str = "agentruns") -> bool:
    api = kubernetes.client.AuthorizationV1Api(kube.api_client)
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{user.namespace}"]
    body = {
        "spec": {
            "user": user.username,
            "groups": [*groups, "system:authenticated"],
            "resourceAttributes": {
                "verb": verb,
                "namespace": namespace,
                "group": "k8sclaw.io",
                "resource": resource,
            },
        }
    }
    return bool(api.create_subject_access_review(body).status.allowed)


@pytest.fixture
def other_namespace(kube: KubeEnv) -> Iterator[str]:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    name = f"t-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"k8sclaw.io/test": "true"}}})
    yield name
    core.delete_namespace(name)


def test_token_request_then_review_names_the_service_account(kube: KubeEnv) -> None:
    user = make_user(kube.api_client, kube.namespace, "alice")
    status = _review_token(kube, user.token)
    assert status.authenticated is True
    assert status.user.username == f"system:serviceaccount:{kube.namespace}:alice"
    assert f"system:serviceaccounts:{kube.namespace}" in status.user.groups
    assert "system:authenticated" in status.user.groups


def test_unknown_token_is_not_authenticated(kube: KubeEnv) -> None:
    status = _review_token(kube, "not-a-token-" + secrets.token_hex(8))
    assert not status.authenticated
    assert status.error


def test_token_stops_working_when_its_service_account_is_deleted(kube: KubeEnv) -> None:
    user = make_user(kube.api_client, kube.namespace, "bob")
    kubernetes.client.CoreV1Api(kube.api_client).delete_namespaced_service_account(
        "bob", kube.namespace
    )
    deadline = time.monotonic() + 60
    while _review_token(kube, user.token).authenticated and time.monotonic() < deadline:
        time.sleep(0.5)  # a real server's token cache may take a moment
    assert not _review_token(kube, user.token).authenticated


def test_token_request_for_a_missing_service_account_is_404(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.create_namespaced_service_account_token("nobody", kube.namespace, {"spec": {}})
    assert info.value.status == 404


def test_role_binding_allows_only_its_verbs_in_its_namespace(
    kube: KubeEnv, other_namespace: str
) -> None:
    user = make_user(kube.api_client, kube.namespace, "carol")
    assert not _may(kube, user, "get", kube.namespace)
    rules = claw_rules("get", "list", resources=("agentruns",))
    grant(kube.api_client, kube.namespace, user, rules)
    assert _may(kube, user, "get", kube.namespace)
    assert _may(kube, user, "list", kube.namespace)
    assert not _may(kube, user, "create", kube.namespace)
    assert not _may(kube, user, "get", kube.namespace, resource="clawinstances")
    assert not _may(kube, user, "get", other_namespace)
    assert not _may(kube, user, "list", "")  # cluster-wide needs a ClusterRoleBinding


def test_cluster_role_through_a_role_binding_applies_to_that_namespace_only(
    kube: KubeEnv, other_namespace: str
) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    role = f"t-claw-reader-{secrets.token_hex(4)}"
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": claw_rules("get")})
    try:
        user = make_user(kube.api_client, kube.namespace, "dave")
        bind(kube.api_client, other_namespace, user, "ClusterRole", role)
        assert _may(kube, user, "get", other_namespace)
        assert not _may(kube, user, "get", kube.namespace)
    finally:
        rbac.delete_cluster_role(role)


def _wait_may(kube: KubeEnv, user: User, verb: str, namespace: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _may(kube, user, verb, namespace):
            return True
        time.sleep(0.5)  # a real cluster's aggregation controller fills rules asynchronously
    return False


def test_aggregated_cluster_role_gains_the_rules_of_the_roles_it_selects(kube: KubeEnv) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client)
    tag = secrets.token_hex(4)
    parent, child = f"t-agg-{tag}", f"t-agg-{tag}-part"
    selector = {"matchLabels": {f"test.k8sclaw.io/aggregate-to-{tag}": "true"}}
    rbac.create_cluster_role(
        {"metadata": {"name": parent}, "aggregationRule": {"clusterRoleSelectors": [selector]}}
    )
    labels = {f"test.k8sclaw.io/aggregate-to-{tag}": "true"}
    rbac.create_cluster_role(
        {"metadata": {"name": child, "labels": labels}, "rules": claw_rules("watch")}
    )
    try:
        user = make_user(kube.api_client, kube.namespace, "erin")
        bind(kube.api_client, kube.namespace, user, "ClusterRole", parent)
        assert _wait_may(kube, user, "watch", kube.namespace)
        assert not _may(kube, user, "delete", kube.namespace)
    finally:
        rbac.delete_cluster_role(parent)
        rbac.delete_cluster_role(child)


def test_review_without_user_or_group_is_invalid(kube: KubeEnv) -> None:
    api = kubernetes.client.AuthorizationV1Api(kube.api_client)
    body: dict[str, Any] = {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    with pytest.raises(kubernetes.client.ApiException) as info:
        api.create_subject_access_review(body)
    assert info.value.status in (400, 422)


def test_self_subject_access_review_answers_for_the_caller(
    kube: KubeEnv, other_namespace: str
) -> None:
    user = make_user(kube.api_client, kube.namespace, "selfie")
    grant(kube.api_client, kube.namespace, user, claw_rules("create"))
    config = configuration_as(kube.api_client.configuration, user)

    def may(verb: str, namespace: str) -> bool:
        body = {
            "spec": {
                "resourceAttributes": {
                    "verb": verb,
                    "namespace": namespace,
                    "group": "k8sclaw.io",
                    "resource": "agentruns",
                }
            }
        }
        with kubernetes.client.ApiClient(config) as client:
            api = kubernetes.client.AuthorizationV1Api(client)
            return bool(api.create_self_subject_access_review(body).status.allowed)

    assert may("create", kube.namespace)
    assert not may("delete", kube.namespace)
    assert not may("create", other_namespace)
