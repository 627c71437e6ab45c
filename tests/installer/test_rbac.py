"""Least-privilege RBAC, checked offline on the bundle `k8sclaw install` applies (issue #13
item 8, docs/security.md "## RBAC"): no Secrets list/watch, no cluster-wide writes outside
K8sClaw's own kinds, and the controller's write role bound only per tenant namespace."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from k8sclaw.cli import cli
from k8sclaw.onboard._plan import tenant_access
from k8sclaw_protocol import names

WRITES = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["install", "--dry-run", "-n", "team-a"])
    assert result.exit_code == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("ClusterRole", "Role")]


def test_no_role_lists_or_watches_secrets(docs: list[dict[str, Any]]) -> None:
    for role in _roles(docs):
        for rule in role["rules"]:
            if "secrets" not in rule["resources"]:
                continue
            assert "list" not in rule["verbs"], role["metadata"]["name"]
            if "watch" in rule["verbs"]:  # one named Secret (the API server's own token)
                assert rule.get("resourceNames"), role["metadata"]["name"]


def test_cluster_wide_bindings_write_only_k8sclaw_kinds_or_named_objects(
    docs: list[dict[str, Any]],
) -> None:
    bound = {d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"}
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    # the built-in role every aggregated API server binds: TokenReview/SubjectAccessReview
    # create only (kube-apiserver's bootstrap policy), as the API server's own role has
    roles["system:auth-delegator"] = {"rules": _review_rules()}
    assert bound <= set(roles)
    for name in bound:
        for rule in roles[name]["rules"]:
            if set(rule["verbs"]) & WRITES and not rule.get("resourceNames"):
                if _is_review(rule):
                    continue  # asks the API server a question; stores nothing
                assert rule["apiGroups"] == [names.GROUP], (name, rule)


REVIEWS = {
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
}
"""The API server's authentication and authorization questions (create only)."""


def _review_rules() -> list[dict[str, Any]]:
    return [{"apiGroups": [g], "resources": [r], "verbs": ["create"]} for g, r in sorted(REVIEWS)]


def _is_review(rule: dict[str, Any]) -> bool:
    pairs = {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    return pairs <= REVIEWS and rule["verbs"] == ["create"]


def test_the_controller_write_role_is_never_bound_cluster_wide(docs: list[dict[str, Any]]) -> None:
    (tenant,) = [d for d in docs if d["metadata"]["name"] == names.CONTROLLER_TENANT_ROLE]
    assert tenant["kind"] == "ClusterRole"
    refs = [d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert names.CONTROLLER_TENANT_ROLE not in refs
    writes = {
        resource
        for rule in tenant["rules"]
        if set(rule["verbs"]) & WRITES
        for resource in rule["resources"]
    }
    assert {"jobs", "configmaps", "deployments", "networkpolicies"} <= writes
    controller = [d for d in docs if d["metadata"]["name"] == "k8sclaw-controller"]
    cluster_rules = [r for d in controller if d["kind"] == "ClusterRole" for r in d["rules"]]
    assert not {"jobs", "configmaps", "deployments", "secrets"} & {
        res for r in cluster_rules if set(r["verbs"]) & (WRITES | {"get"}) for res in r["resources"]
    }


def test_onboarding_binds_the_tenant_role_in_its_namespace_only(
    docs: list[dict[str, Any]],
) -> None:
    namespace, binding = tenant_access("team-a")
    assert namespace["metadata"]["labels"] == {names.LABEL_TENANT: names.TENANT_LABEL_VALUE}
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == "team-a"
    assert binding["roleRef"]["name"] == names.CONTROLLER_TENANT_ROLE
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    (subject,) = binding["subjects"]
    assert subject["name"] in accounts and subject["namespace"] == names.SYSTEM_NAMESPACE
    for doc in (namespace, binding):
        kubernetes_validate.validate(doc, "1.32.0", strict=True)
