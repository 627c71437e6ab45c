"""A minimal OpenAPI v3 index, enough for kubectl to use server-side field validation.

kubectl checks `/openapi/v3/<group-version>` for a PATCH operation tagged with the
kind's `x-kubernetes-group-version-kind` that accepts `fieldValidation`; with it, kubectl
sends `fieldValidation=Strict` instead of validating client-side. Schemas of built-in
kinds are not published (CRD schemas are, as custom resources' components).
"""

from __future__ import annotations

from typing import Any

from tests.harness.kube._types import Registry, ResourceType

_PARAMS = [
    {"name": n, "in": "query", "schema": {"type": "string"}}
    for n in ("dryRun", "fieldManager", "fieldValidation", "force")
]


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def index(registry: Registry) -> dict[str, Any]:
    """`/openapi/v3`: one entry per served group/version."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash=emulator"}
    return {"paths": paths}


def _operations(rtype: ResourceType) -> dict[str, Any]:
    gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    ok = {"200": {"description": "OK"}}
    return {
        "patch": {"parameters": _PARAMS, "responses": ok, "x-kubernetes-group-version-kind": gvk},
        "put": {"parameters": _PARAMS, "responses": ok, "x-kubernetes-group-version-kind": gvk},
    }


def group_version(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """`/openapi/v3/<gv>`: item paths with their PATCH/PUT operations and CR schemas."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    base = "/" + _gv_path(group, version)
    paths, schemas = {}, {}
    for rtype in types:
        scope = "/namespaces/{namespace}" if rtype.namespaced else ""
        paths[f"{base}{scope}/{rtype.plural}/{{name}}"] = _operations(rtype)
        if rtype.schema is not None:
            key = ".".join(reversed(rtype.group.split("."))) + f".{rtype.version}.{rtype.kind}"
            schemas[key] = {
                **rtype.schema,
                "x-kubernetes-group-version-kind": [
                    {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
                ],
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
