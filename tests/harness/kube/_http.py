"""HTTP routing: turns Kubernetes REST paths and query parameters into `Cluster` calls.

Paths: `/api/v1/...` (core) and `/apis/<group>/<version>/...`, optionally under
`namespaces/<ns>/`, then `<plural>[/<name>[/<subresource>]]`. Errors leave as `Status`
objects; list responses carry the store's resourceVersion so list-then-watch works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml

from tests.harness.kube import (
    _aggregator,
    _audit,
    _discovery,
    _errors,
    _managed,
    _openapi,
    _selectors,
    _watch,
    _webhooks,
    _wire,
)
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._server import Request, Response, StreamResponse
from tests.harness.kube._store import Obj
from tests.harness.kube._types import ResourceType


@dataclass
class Target:
    """What a resource path names."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


Reply = Response | StreamResponse
Handler = Callable[[Request, Target], Awaitable[Reply]]


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON body as the API server sends it (also for subresource handlers)."""
    return Response(status, _wire.dumps(body), "application/json; charset=utf-8")


def error_response(exc: _errors.ApiError) -> Response:
    return json_response(exc.status(), exc.code)


def _not_found_path() -> _errors.ApiError:
    return _errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _access(request: Request, target: Target) -> _audit.Access:
    rtype, sub = target.rtype, target.subresource
    return _audit.Access(
        request.headers.get("user-agent", ""),
        _audit.verb(request.method, target.name is not None, request.query),
        rtype.group,
        f"{rtype.plural}/{sub}" if sub else rtype.plural,
        target.namespace,
        target.name,
    )


class Router:
    """The `_server` handler for every path the emulator serves."""

    def __init__(
        self, cluster: Cluster, stopping: asyncio.Event, extra: dict[str, Handler]
    ) -> None:
        self.cluster = cluster
        self.stopping = stopping
        self.extra = extra  # subresources served elsewhere (pods/log)
        self.audit: list[_audit.Access] | None = None  # set: resource requests are logged
        self.deny: Callable[[_audit.Access], bool] | None = None  # True: answer 403
        self.identify: Callable[[str], dict[str, Any] | None] | None = None
        """Bearer token → userInfo, for the `userInfo` of admission reviews."""
        self.aggregator: _aggregator.Aggregator | None = None  # APIService proxying

    async def handle(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        user = None
        if self.identify is not None and auth.lower().startswith("bearer "):
            user = self.identify(auth[7:].strip())
        reset = _webhooks.REQUEST_USER.set(user)
        try:
            return await self._dispatch(request)
        except _errors.ApiError as exc:
            return error_response(exc)
        finally:
            _webhooks.REQUEST_USER.reset(reset)

    async def _dispatch(self, request: Request) -> Reply:
        if self.aggregator is not None:
            proxied = await self._aggregated(request)
            if proxied is not None:
                return proxied
        discovery = self._discovery_doc(request)
        if discovery is not None:
            return discovery
        target = self._target([p for p in request.path.split("/") if p])
        if target is None:
            raise _not_found_path()
        if self.audit is not None or self.deny is not None:
            access = _access(request, target)
            if self.audit is not None:
                self.audit.append(access)
            if self.deny is not None and self.deny(access):
                raise _audit.forbidden(access)
        return await self._resource(request, target)

    async def _aggregated(self, request: Request) -> Response | None:
        """`/apis` with the aggregated groups, their group documents, their proxied paths."""
        assert self.aggregator is not None
        parts = [p for p in request.path.split("/") if p]
        if parts == ["apis"]:
            doc = _discovery.api_groups(self.cluster.registry)
            extra = [
                {k: v for k, v in g.items() if k not in ("kind", "apiVersion")}
                for g in self.aggregator.groups()
            ]
            doc["groups"] = [*doc["groups"], *extra]
            return json_response(doc)
        if len(parts) == 2 and parts[0] == "apis":
            group = self.aggregator.group_doc(parts[1])
            return None if group is None else json_response(group)
        return await self.aggregator.handle(request, parts)

    def _discovery_doc(self, request: Request) -> Response | None:  # noqa: PLR0911
        parts = [p for p in request.path.split("/") if p]
        registry = self.cluster.registry
        if parts == ["version"]:
            return json_response(_discovery.VERSION_INFO)
        if parts == ["api"]:
            return json_response(_discovery.core_versions(request.host))
        if parts == ["apis"]:
            return json_response(_discovery.api_groups(registry))
        if parts[:1] == ["api"] and len(parts) == 2:
            return _found(_discovery.resource_list(registry, "", parts[1]))
        if parts[:1] == ["apis"] and len(parts) == 2:
            return _found(_discovery.api_group(registry, parts[1]))
        if parts[:1] == ["apis"] and len(parts) == 3:
            return _found(_discovery.resource_list(registry, parts[1], parts[2]))
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if parts == ["openapi", "v3"]:
            return json_response(_openapi.index(registry))
        if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            gv = parts[2:]
            group, version = (
                ("", gv[1]) if gv[0] == "api" else (gv[1], gv[2] if len(gv) == 3 else "")
            )
            return _found(_openapi.group_version(registry, group, version))
        return None

    def _target(self, parts: list[str]) -> Target | None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        find = self.cluster.registry.find
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            inner = find(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        rtype = find(group, version, rest[0])
        if rtype is None or (rtype.namespaced and namespace is None and len(rest) > 1):
            return None
        sub = rest[2] if len(rest) == 3 else None
        known = (*rtype.extra_subresources, *(("status",) if rtype.status else ()))
        if sub is not None and sub not in known:
            return None
        return Target(rtype, namespace, rest[1] if len(rest) > 1 else None, sub)

    async def _resource(self, request: Request, target: Target) -> Reply:
        # Subresources served elsewhere by name (`log`), create-only kinds (reviews) by
        # `<plural>.<group>`: subresource names never hold a dot.
        key = target.subresource or f"{target.rtype.plural}.{target.rtype.group}"
        if key in self.extra:
            return await self.extra[key](request, target)
        if target.name is None:
            return await self._collection(request, target)
        return await self._item(request, target)

    async def _collection(self, request: Request, target: Target) -> Reply:
        rtype, query = target.rtype, request.query
        matches = self._matcher(rtype, query)
        if request.method == "GET" and query.get("watch") in ("true", "1"):
            scope = _watch.Scope(self.cluster, rtype, target.namespace, matches)
            return await _watch.serve(request, scope, self.stopping)
        if request.method == "GET":
            return json_response(self._list(rtype, target.namespace, matches, query))
        if request.method == "POST":
            if rtype.namespaced and target.namespace is None:
                raise _errors.method_not_allowed()
            body = await _body(request, kind=rtype.kind)
            obj = await self.cluster.create(
                rtype, target.namespace or "", body, owned=True, **_write_opts(request)
            )
            return json_response(obj, 201)
        if request.method == "DELETE":
            for obj in self.cluster.list_views(rtype, target.namespace):
                if matches(obj):
                    await self.cluster.delete(
                        rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )
            return json_response(
                {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            )
        raise _errors.method_not_allowed()

    def _matcher(self, rtype: ResourceType, query: Any) -> Callable[[Obj], bool]:
        labels = _selectors.label_selector(query.get("labelSelector"))
        fields = _selectors.field_selector(query.get("fieldSelector"), rtype.field_selectors)
        return lambda obj: labels(obj) and fields(obj)

    def _list(
        self, rtype: ResourceType, namespace: str | None, matches: Callable[[Obj], bool], query: Any
    ) -> Obj:
        items = [o for o in self.cluster.list_views(rtype, namespace) if matches(o)]
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0)
        page = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": self.cluster.store.resource_version}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        for item in page:  # as kube-apiserver: built-in items bare, custom ones typed
            if rtype.custom:
                item["apiVersion"], item["kind"] = rtype.api_version, rtype.kind
            else:
                item.pop("apiVersion", None)
                item.pop("kind", None)
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": meta,
            "items": page,
        }

    async def _item(self, request: Request, target: Target) -> Reply:
        rtype, ns, name, query = (
            target.rtype,
            target.namespace or "",
            target.name or "",
            request.query,
        )
        cluster, sub = self.cluster, target.subresource
        if request.method == "GET":
            return json_response(cluster.peek(rtype, ns, name))
        if request.method == "PUT":
            body = await _body(request, kind=rtype.kind)
            return json_response(
                await cluster.update(
                    rtype, ns, name, body, subresource=_sub(sub), owned=True, **_write_opts(request)
                )
            )
        if request.method == "PATCH":
            return await self._patch(request, target)
        if request.method == "DELETE" and sub is None:
            options = await _body(request, optional=True)
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            grace = query.get("gracePeriodSeconds") or options.get("gracePeriodSeconds")
            if options.get("orphanDependents") is True:
                propagation = propagation or "Orphan"
            obj = await cluster.delete(
                rtype,
                ns,
                name,
                propagation=propagation,
                preconditions=options.get("preconditions"),
                dry_run=query.get("dryRun") == "All",
                grace=None if grace is None else int(grace),
            )
            return json_response(obj)
        raise _errors.method_not_allowed()

    async def _patch(self, request: Request, target: Target) -> Reply:
        """A patch; an apply that creates the object answers 201, as kube-apiserver does."""
        body = await _body(request)
        rtype, ns, name = target.rtype, target.namespace or "", target.name or ""
        if request.content_type == _managed.APPLY_PATCH:
            opts = _write_opts(request)
            del opts["manager"]  # an apply names its manager or fails
            obj, created = await _managed.server_side_apply(
                self.cluster, rtype, ns, name, body, sub=_sub(target.subresource),
                manager=request.query.get("fieldManager"),
                force=request.query.get("force") in ("true", "1"), **opts,
            )  # fmt: skip
            return json_response(obj, 201 if created else 200)
        obj = await self.cluster.patch(
            rtype, ns, name, request.content_type, body, subresource=_sub(target.subresource),
            **_write_opts(request),
        )  # fmt: skip
        return json_response(obj)


def _sub(sub: str | None) -> str | None:
    if sub == "finalize":
        return None
    return sub


def _found(body: dict[str, Any] | None) -> Response:
    if body is None:
        raise _not_found_path()
    return json_response(body)


def _write_opts(request: Request) -> dict[str, Any]:
    query = request.query
    return {
        "dry_run": query.get("dryRun") == "All",
        "strict": query.get("fieldValidation") == "Strict",
        "manager": _managed.manager_from(
            query.get("fieldManager"), request.headers.get("user-agent")
        ),
    }


async def _body(request: Request, optional: bool = False, kind: str = "") -> Any:
    """The decoded request body. An object body (`kind`: POST, PUT) that is not JSON is
    reported as kube-apiserver's decoder does (`transformDecodeError`), quoting Go's parse
    error and the body's first 30 bytes."""
    if "protobuf" in request.content_type or "cbor" in request.content_type:
        raise _errors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (not {request.content_type})"
        )
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise _errors.bad_request("the request body is empty")
    try:
        if request.content_type == "application/apply-patch+yaml":
            return _yaml(raw)
        return _wire.loads(raw)
    except ValueError as exc:
        if kind:
            raise _errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get "
                f"version/kind; json parse error: {_wire.go_error(raw)} ({_wire.summarize(raw)})"
            ) from exc
        raise _errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc
    except yaml.YAMLError as exc:
        raise _errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc


def _yaml(raw: bytes) -> Any:
    """An apply body: YAML, in practice JSON (what client libraries send). JSON is read
    as JSON, several times faster than the YAML loader and with the types Go's YAML reader
    gives it (`1e3` is a number); anything else (NaN included) goes to the YAML loader."""
    try:
        return _wire.loads(raw)
    except ValueError:
        return yaml.safe_load(raw)
