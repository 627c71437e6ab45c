"""Discovery documents: /version, /api, /apis, /apis/<group>[/<version>].

These are the legacy (unaggregated) discovery shapes; kubectl asks for aggregated
discovery first and falls back to these when the response is not of that type,
exactly as it does with an older kube-apiserver.
"""

from __future__ import annotations

from typing import Any

from tests.harness.kube._types import VERBS, Registry, ResourceType

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-k8sclaw-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _resource_entries(rtype: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": rtype.plural,
        "singularName": rtype.singular_name,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        # The review kinds are create-only questions, never stored.
        "verbs": ["create"] if rtype.plural.endswith("reviews") else list(VERBS),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    entries = [entry]
    sub: dict[str, tuple[str, list[str]]] = {}
    if rtype.status:
        sub["status"] = (rtype.kind, ["get", "patch", "update"])
    for extra in rtype.extra_subresources:
        sub[extra] = {
            "log": ("Pod", ["get"]),
            "binding": ("Binding", ["create"]),
            "finalize": ("Namespace", ["update"]),
            "token": ("TokenRequest", ["create"]),
        }[extra]
    for name, (kind, verbs) in sub.items():
        entries.append(
            {
                "name": f"{rtype.plural}/{name}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
        )
    return entries


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """APIResourceList for one group/version, or None when it is not served."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [
            e for t in sorted(types, key=lambda t: t.plural) for e in _resource_entries(t)
        ],
    }


def core_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def api_groups(registry: Registry) -> dict[str, Any]:
    groups = [api_group(registry, g) for g in sorted(registry.group_versions()) if g]
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {k: v for k, v in g.items() if k not in ("kind", "apiVersion")} for g in groups if g
        ],
    }
