"""List, get, create and delete of the K8sClaw kinds, each behind SubjectAccessReview.

Two path styles: namespaced (`/api/v1/namespaces/{ns}/instances/...`, the canonical one)
and the original's flat routes (`/api/v1/instances?namespace=`, reference §5). A flat list
without `namespace` spans exactly the namespaces where the caller may `list` the kind.
Authorization comes before any lookup, so a denied caller cannot tell whether a name
exists. The cluster is read with the API server's own ServiceAccount; runs are created in
`_runs` through the shared run builder.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from k8sclaw_controllers.apiserver import _listing
from k8sclaw_controllers.apiserver._auth import Access, Caller
from k8sclaw_controllers.apiserver._deps import DNS_LABEL, DNS_SUBDOMAIN, CallerDep, Deps, DepsDep
from k8sclaw_controllers.apiserver._errors import ERROR_RESPONSES, ApiError
from k8sclaw_controllers.apiserver._json import Json, RawJson
from k8sclaw_controllers.apiserver._kinds import KINDS, RUNS, Kind
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import names

Namespace = Annotated[str, Path(pattern=DNS_LABEL, max_length=63)]
Name = Annotated[str, Path(pattern=DNS_SUBDOMAIN, max_length=253)]
NamespaceQuery = Annotated[str | None, Query(pattern=DNS_LABEL, max_length=63)]
DefaultNamespace = Annotated[str, Query(pattern=DNS_LABEL, max_length=63)]
Obj = dict[str, Any]
ObjectBody = Annotated[Obj, Body(description="the object to create (apiVersion may be omitted)")]


def translate(exc: _kube.KubeError) -> ApiError:
    """A cluster refusal as our error; the cluster's own 401/403 is our misconfiguration."""
    if exc.status in (400, 404, 409, 422):
        return ApiError(exc.status, exc.message or exc.reason, exc.reason or None)
    return ApiError(503, f"the cluster answered {exc.status} {exc.reason}")


def clean(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    meta.pop("managedFields", None)
    return obj


async def list_objects(deps: Deps, caller: Caller, kind: Kind, namespace: str | None) -> bytes:
    """The JSON `{"items": [...]}` of the objects of `kind` the caller may list, in
    `namespace` or (None) in every namespace where RBAC lets the caller list them."""
    if namespace:
        await deps.authz.require(caller, Access("list", kind.plural, namespace))
        return await _fetch_list(deps, _kube.claw(namespace, kind.plural))
    visible = await deps.visible_namespaces(caller, "list", kind.plural)
    if visible is not None and not visible:
        return _listing.EMPTY
    path = _kube.collection(names.GROUP_VERSION, kind.plural, None)
    return await _fetch_list(deps, path, visible)


async def _fetch_list(deps: Deps, path: str, namespaces: set[str] | None = None) -> bytes:
    try:
        return _listing.cleaned(await deps.kube.raw(path), namespaces)
    except _kube.KubeError as exc:
        raise translate(exc) from exc
    except ValueError as exc:
        raise ApiError(503, str(exc)) from exc


async def get_object(deps: Deps, caller: Caller, kind: Kind, namespace: str, name: str) -> Obj:
    await deps.authz.require(caller, Access("get", kind.plural, namespace, name))
    try:
        return clean(await deps.kube.get(_kube.claw(namespace, kind.plural, name)))
    except _kube.KubeError as exc:
        raise translate(exc) from exc


async def delete_object(deps: Deps, caller: Caller, kind: Kind, namespace: str, name: str) -> None:
    await deps.authz.require(caller, Access("delete", kind.plural, namespace, name))
    try:
        await deps.kube.delete(_kube.claw(namespace, kind.plural, name))
    except _kube.KubeError as exc:
        raise translate(exc) from exc


async def create_object(deps: Deps, caller: Caller, kind: Kind, namespace: str, body: Obj) -> Obj:
    await deps.authz.require(caller, Access("create", kind.plural, namespace))
    if body.get("kind", kind.kind) != kind.kind:
        raise ApiError(400, f"kind: expected {kind.kind}, got {body.get('kind')!r}")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(422, "metadata: required, with a name or generateName")
    if meta.get("namespace", namespace) != namespace:
        raise ApiError(400, f"metadata.namespace: must be {namespace!r} (the request's namespace)")
    obj = {**body, "apiVersion": names.GROUP_VERSION, "kind": kind.kind}
    obj["metadata"] = {**meta, "namespace": namespace}
    try:
        return clean(await deps.kube.create(_kube.claw(namespace, kind.plural), obj))
    except _kube.KubeError as exc:
        raise translate(exc) from exc


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for kind in KINDS:
        _register_reads(api, kind)
        if kind.writable:
            _register_delete(api, kind)
            if kind is not RUNS:
                _register_create(api, kind)
    return api


def _register_reads(api: APIRouter, kind: Kind) -> None:
    async def list_ns(namespace: Namespace, deps: DepsDep, caller: CallerDep) -> RawJson:
        return RawJson(await list_objects(deps, caller, kind, namespace))

    async def list_flat(
        deps: DepsDep, caller: CallerDep, namespace: NamespaceQuery = None
    ) -> RawJson:
        return RawJson(await list_objects(deps, caller, kind, namespace))

    async def get_ns(namespace: Namespace, name: Name, deps: DepsDep, caller: CallerDep) -> Json:
        return Json(await get_object(deps, caller, kind, namespace, name))

    async def get_flat(
        name: Name, deps: DepsDep, caller: CallerDep, namespace: DefaultNamespace = "default"
    ) -> Json:
        return Json(await get_object(deps, caller, kind, namespace, name))

    p = kind.path
    tag: list[str | Enum] = [kind.path]
    api.get(f"/namespaces/{{namespace}}/{p}", operation_id=f"list_{p}", tags=tag)(list_ns)
    api.get(f"/{p}", operation_id=f"list_{p}_flat", tags=tag)(list_flat)
    api.get(f"/namespaces/{{namespace}}/{p}/{{name}}", operation_id=f"get_{p}", tags=tag)(get_ns)
    api.get(f"/{p}/{{name}}", operation_id=f"get_{p}_flat", tags=tag)(get_flat)


def _register_delete(api: APIRouter, kind: Kind) -> None:
    async def delete_ns(
        namespace: Namespace, name: Name, deps: DepsDep, caller: CallerDep
    ) -> Response:
        await delete_object(deps, caller, kind, namespace, name)
        return Response(status_code=204)

    async def delete_flat(
        name: Name, deps: DepsDep, caller: CallerDep, namespace: DefaultNamespace = "default"
    ) -> Response:
        await delete_object(deps, caller, kind, namespace, name)
        return Response(status_code=204)

    p = kind.path
    tag: list[str | Enum] = [kind.path]
    path = f"/namespaces/{{namespace}}/{p}/{{name}}"
    api.delete(path, operation_id=f"delete_{p}", status_code=204, tags=tag)(delete_ns)
    api.delete(f"/{p}/{{name}}", operation_id=f"delete_{p}_flat", status_code=204, tags=tag)(
        delete_flat
    )


def _register_create(api: APIRouter, kind: Kind) -> None:
    async def create_ns(
        namespace: Namespace, body: ObjectBody, deps: DepsDep, caller: CallerDep
    ) -> Obj:
        return await create_object(deps, caller, kind, namespace, body)

    async def create_flat(
        body: ObjectBody, deps: DepsDep, caller: CallerDep, namespace: DefaultNamespace = "default"
    ) -> Obj:
        return await create_object(deps, caller, kind, namespace, body)

    p = kind.path
    tag: list[str | Enum] = [kind.path]
    path = f"/namespaces/{{namespace}}/{p}"
    api.post(path, operation_id=f"create_{p}", status_code=201, tags=tag)(create_ns)
    api.post(f"/{p}", operation_id=f"create_{p}_flat", status_code=201, tags=tag)(create_flat)
