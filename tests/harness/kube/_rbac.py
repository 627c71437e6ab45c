"""RBAC evaluation for SubjectAccessReview, as kube-apiserver's RBAC authorizer does it.

A request is allowed when any rule reachable from the user matches it: ClusterRoleBindings
grant their role everywhere, RoleBindings only inside their own namespace (a RoleBinding
may point at a ClusterRole, which then applies to that namespace alone). The group
`system:masters` is always allowed, as the real server's superuser group is. Aggregated
ClusterRoles (`aggregationRule`) are resolved at evaluation time from the ClusterRoles their
selectors pick, which is what the real aggregation controller writes into `rules`.
There is no deny: an answer is "allowed" or "no opinion" (`allowed: false`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.harness.kube._cluster import Cluster
from tests.harness.kube._store import Obj

_RBAC = "rbac.authorization.k8s.io"
SUPERUSER_GROUP = "system:masters"


@dataclass(frozen=True)
class Attributes:
    """What is asked: a resource request or a non-resource URL."""

    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str | None = None  # set for non-resource requests


@dataclass(frozen=True)
class Subject:
    user: str
    groups: tuple[str, ...]


def allowed(cluster: Cluster, subject: Subject, attrs: Attributes) -> tuple[bool, str]:
    """(allowed, reason) like the RBAC authorizer's `reason` text."""
    if SUPERUSER_GROUP in subject.groups:
        return True, ""
    for where, rules in _reachable(cluster, subject, attrs.namespace):
        if any(_rule_matches(rule, attrs) for rule in rules):
            return True, f"RBAC: allowed by {where}"
    return False, ""


def _reachable(
    cluster: Cluster, subject: Subject, namespace: str
) -> Iterable[tuple[str, list[Obj]]]:
    for binding in _objects(cluster, "ClusterRoleBinding", None):
        if _binds(binding, subject):
            yield _describe(binding), _role_rules(cluster, binding, "")
    if not namespace:
        return
    for binding in _objects(cluster, "RoleBinding", namespace):
        if _binds(binding, subject):
            yield _describe(binding), _role_rules(cluster, binding, namespace)


def _describe(binding: Obj) -> str:
    meta, ref = binding["metadata"], binding.get("roleRef", {})
    where = f'RoleBinding "{meta["name"]}" of {ref.get("kind")} "{ref.get("name")}"'
    if meta.get("namespace"):
        where += f' to namespace "{meta["namespace"]}"'
    return where


def _objects(cluster: Cluster, kind: str, namespace: str | None) -> list[Obj]:
    rtype = cluster.registry.by_kind(f"{_RBAC}/v1", kind)
    return [] if rtype is None else cluster.list_views(rtype, namespace)


def _binds(binding: Obj, subject: Subject) -> bool:
    for entry in binding.get("subjects") or []:
        kind, name = entry.get("kind"), entry.get("name")
        if kind == "User" and name == subject.user:
            return True
        if kind == "Group" and name in subject.groups:
            return True
        if kind == "ServiceAccount":
            sa_ns = entry.get("namespace") or binding["metadata"].get("namespace", "")
            if subject.user == f"system:serviceaccount:{sa_ns}:{name}":
                return True
    return False


def _role_rules(cluster: Cluster, binding: Obj, namespace: str) -> list[Obj]:
    ref = binding.get("roleRef") or {}
    if ref.get("kind") == "Role" and namespace:
        role = _find(cluster, "Role", namespace, ref.get("name", ""))
        return list((role or {}).get("rules") or [])
    if ref.get("kind") == "ClusterRole":
        return _cluster_role_rules(cluster, ref.get("name", ""), set())
    return []


def _find(cluster: Cluster, kind: str, namespace: str, name: str) -> Obj | None:
    rtype = cluster.registry.by_kind(f"{_RBAC}/v1", kind)
    return None if rtype is None else cluster.store.peek(rtype.key, namespace, name)


def _cluster_role_rules(cluster: Cluster, name: str, seen: set[str]) -> list[Obj]:
    role = _find(cluster, "ClusterRole", "", name)
    if role is None or name in seen:
        return []
    seen.add(name)
    rules = list(role.get("rules") or [])
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    if selectors:
        for other in _objects(cluster, "ClusterRole", None):
            labels = other["metadata"].get("labels") or {}
            if any(_selects(sel, labels) for sel in selectors):
                rules.extend(_cluster_role_rules(cluster, other["metadata"]["name"], seen))
    return rules


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (
            op == "NotIn" and labels.get(key) in values
        ):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _rule_matches(rule: Obj, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if attrs.path is not None:
        urls = rule.get("nonResourceURLs") or []
        return any(
            u == attrs.path or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in urls
        )
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not (
        _has(resources, resource) or (attrs.subresource and f"*/{attrs.subresource}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names
