"""An audit log of resource requests, in RBAC's terms (verb, API group, resource[/sub],
namespace), for tests that compare what a component really does with the rights it ships
(`KubeEmulator.recording()`). kube-apiserver's own audit log is not reachable from a
test, so on a real cluster such tests skip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.harness.kube import _errors

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Access:
    """One request as RBAC authorises it; `user_agent` tells the components apart."""

    user_agent: str
    verb: str
    group: str
    resource: str  # "pods", or "pods/log" with its subresource
    namespace: str | None
    name: str | None


def forbidden(access: Access) -> _errors.ApiError:
    """The 403 kube-apiserver's RBAC authorizer answers, in its words."""
    plural = access.resource.partition("/")[0]
    where = " at the cluster scope"
    if access.namespace:
        where = f' in the namespace "{access.namespace}"'
    resource = f'resource "{access.resource}" in API group "{access.group}"'
    why = f'User "{access.user_agent}" cannot {access.verb} {resource}{where}'
    return _errors.forbidden(access.group, plural, access.name or "", why)


def verb(method: str, named: bool, query: Mapping[str, str]) -> str:
    """The RBAC verb of an HTTP request on a resource path (as kube-apiserver maps it)."""
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
