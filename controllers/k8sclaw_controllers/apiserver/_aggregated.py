"""The aggregated API `transcripts.k8sclaw.io/v1alpha1`, served to kube-apiserver.

Registered with the APIService `v1alpha1.transcripts.k8sclaw.io`, so `kubectl get
sessions.transcripts.k8sclaw.io` and the CLI reach transcripts through the Kubernetes API
with the user's own credentials, whatever kind they are (tokens, exec plugins, client
certificates). Two read-only namespaced kinds:

- `Session` (`sessions`): a conversation (runs of one instance sharing a session key);
  name = the session key. `get` adds its runs and a page of its events.
- `Transcript` (`transcripts`): one run's recorded events; name = the run. `get` takes
  `?after=SEQ&limit=N` to page (`nextAfter` in the answer).

The caller comes from the front proxy (`_frontproxy`) or, on a direct call, a bearer token;
the permission is asked exactly as for the HTTP API (`_runs`): `get agentruns/<run>` for a
transcript, `list agentruns` for transcripts and sessions. Errors under `/apis` are
Kubernetes `Status` objects (`_errors`), which kubectl prints. Lists answer a
`meta.k8s.io/v1` Table when asked to (`kubectl get` does).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from k8sclaw_controllers.apiserver import _runs
from k8sclaw_controllers.apiserver._auth import Access, Caller
from k8sclaw_controllers.apiserver._deps import Deps, deps
from k8sclaw_controllers.apiserver._frontproxy import PEER_KEY, FrontProxy
from k8sclaw_controllers.apiserver._kinds import RUNS
from k8sclaw_controllers.apiserver._objects import Name, Namespace
from k8sclaw_controllers.apiserver._runs import After, Limit, SessionKey

GROUP = "transcripts.k8sclaw.io"
VERSION_NAME = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION_NAME}"
BASE = f"/apis/{GROUP}/{VERSION_NAME}"
RESOURCES = (("sessions", "Session", "session"), ("transcripts", "Transcript", "transcript"))


async def proxied_caller(request: Request) -> Caller:
    """The front proxy's user when the peer certificate verified, else the bearer token's."""
    found = deps(request)
    peer = (request.scope.get("extensions") or {}).get(PEER_KEY)
    proxy: FrontProxy | None = found.front_proxy
    if peer is not None and proxy is not None:
        return proxy.identify(str(peer), request.headers.items())
    return await found.authn.authenticate(request.headers.get("authorization"))


def _meta(name: str, namespace: str, created: str | None) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "creationTimestamp": created}


def session_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Session",
        "metadata": _meta(row["key"], row["namespace"], row.get("created")),
        "instance": row["instance"],
        "runCount": row["run_count"],
        "updated": row.get("updated"),
    }


def transcript_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Transcript",
        "metadata": _meta(row["run"], row["namespace"], row.get("created")),
        "instance": row["instance"],
        "session": row["session"],
        "task": row["task"],
        "eventCount": row["event_count"],
        "lastSeq": row["last_seq"],
        "updated": row.get("updated"),
    }


def _event(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "kind", "topic", "time", "data")
    return {k: row.get(k) for k in keys} | {"run": row.get("run")}


def _list(kind: str, items: list[dict[str, Any]], request: Request) -> Any:
    if "as=Table" in request.headers.get("accept", ""):
        return _table(kind, items)
    return {"apiVersion": GROUP_VERSION, "kind": f"{kind}List", "metadata": {}, "items": items}


def _table(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What `kubectl get` prints (server-side printing)."""
    if kind == "Session":
        columns = [("Name", "string"), ("Instance", "string"), ("Runs", "integer")]
        cells = [[o["metadata"]["name"], o["instance"], o["runCount"]] for o in items]
    else:
        columns = [("Name", "string"), ("Instance", "string"), ("Session", "string")]
        columns.append(("Events", "integer"))
        cells = [
            [o["metadata"]["name"], o["instance"], o["session"], o["eventCount"]] for o in items
        ]
    columns.append(("Updated", "string"))
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n}
            for n, t in columns
        ],
        "rows": [
            {
                "cells": [*row, o.get("updated") or ""],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for row, o in zip(cells, items, strict=True)
        ],
    }


async def _namespaces(found: Deps, caller: Caller, namespace: str | None) -> list[str]:
    """The one namespace, or every namespace where the caller may list agentruns."""
    if namespace is not None:
        await found.authz.require(caller, Access("list", RUNS.plural, namespace))
        return [namespace]
    visible = await found.visible_namespaces(caller, "list", RUNS.plural)
    if visible is None:
        listing = await found.kube.get("/api/v1/namespaces")
        visible = {str(n["metadata"]["name"]) for n in listing.get("items") or []}
    return sorted(visible)


async def list_sessions(found: Deps, caller: Caller, namespace: str | None) -> list[Any]:
    from fastapi.encoders import jsonable_encoder

    store = _runs.store_of(found)
    spaces = await _namespaces(found, caller, namespace)
    rows = await asyncio.gather(*(store.sessions(ns) for ns in spaces))
    return [session_object(r) for batch in rows for r in jsonable_encoder(batch)]


async def list_transcripts(found: Deps, caller: Caller, namespace: str | None) -> list[Any]:
    from fastapi.encoders import jsonable_encoder

    store = _runs.store_of(found)
    spaces = await _namespaces(found, caller, namespace)
    rows = await asyncio.gather(*(store.runs(ns) for ns in spaces))
    return [transcript_object(r) for batch in rows for r in jsonable_encoder(batch)]


async def get_session(
    found: Deps, caller: Caller, namespace: str, key: str, *, after: int | None, limit: int
) -> dict[str, Any]:
    detail = await _runs.session(found, caller, namespace, key, after=after, limit=limit)
    obj = session_object(detail["session"])
    obj["runs"] = [r["run"] for r in detail["runs"]]
    obj["events"] = [_event(e) for e in detail["events"]]
    obj["nextAfter"] = detail["next_after"]
    return obj


async def get_transcript(
    found: Deps, caller: Caller, namespace: str, name: str, *, after: int | None, limit: int
) -> dict[str, Any]:
    page = await _runs.transcript(found, caller, namespace, name, after=after, limit=limit)
    run = page["run"]
    if run is None:
        base: dict[str, Any] = {"run": name, "namespace": namespace, "instance": "", "session": ""}
        run = base | {"task": "", "event_count": 0, "last_seq": 0, "created": None}
    obj = transcript_object(run)
    obj["events"] = [_event(e) for e in page["events"]]
    obj["nextAfter"] = page["next_after"]
    return obj


ProxiedCaller = Annotated[Caller, Depends(proxied_caller)]
DepsOf = Annotated[Deps, Depends(deps)]
NsQuery = Annotated[str | None, Query(include_in_schema=False)]


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False)
    _discovery(api)
    _collections(api)
    _items(api)
    return api


def _discovery(api: APIRouter) -> None:
    group = {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [{"groupVersion": GROUP_VERSION, "version": VERSION_NAME}],
        "preferredVersion": {"groupVersion": GROUP_VERSION, "version": VERSION_NAME},
    }

    @api.get("/apis")
    async def groups() -> Any:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}

    @api.get(f"/apis/{GROUP}")
    async def one_group() -> Any:
        return group

    @api.get(BASE)
    async def resources() -> Any:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": [
                {
                    "name": plural,
                    "singularName": singular,
                    "namespaced": True,
                    "kind": kind,
                    "verbs": ["get", "list"],
                    "categories": ["k8sclaw"],
                }
                for plural, kind, singular in RESOURCES
            ],
        }


def _collections(api: APIRouter) -> None:
    @api.get(f"{BASE}/namespaces/{{namespace}}/sessions")
    async def sessions(
        namespace: Namespace, request: Request, found: DepsOf, caller: ProxiedCaller
    ) -> Any:
        return _list("Session", await list_sessions(found, caller, namespace), request)

    @api.get(f"{BASE}/sessions")
    async def all_sessions(request: Request, found: DepsOf, caller: ProxiedCaller) -> Any:
        return _list("Session", await list_sessions(found, caller, None), request)

    @api.get(f"{BASE}/namespaces/{{namespace}}/transcripts")
    async def transcripts(
        namespace: Namespace, request: Request, found: DepsOf, caller: ProxiedCaller
    ) -> Any:
        return _list("Transcript", await list_transcripts(found, caller, namespace), request)

    @api.get(f"{BASE}/transcripts")
    async def all_transcripts(request: Request, found: DepsOf, caller: ProxiedCaller) -> Any:
        return _list("Transcript", await list_transcripts(found, caller, None), request)


def _items(api: APIRouter) -> None:
    @api.get(f"{BASE}/namespaces/{{namespace}}/sessions/{{key}}")
    async def session(
        namespace: Namespace,
        key: SessionKey,
        found: DepsOf,
        caller: ProxiedCaller,
        *,
        after: After = None,
        limit: Limit = 500,
    ) -> Any:
        return await get_session(found, caller, namespace, key, after=after, limit=limit)

    @api.get(f"{BASE}/namespaces/{{namespace}}/transcripts/{{name}}")
    async def transcript(
        namespace: Namespace,
        name: Name,
        found: DepsOf,
        caller: ProxiedCaller,
        *,
        after: After = None,
        limit: Limit = 500,
    ) -> Any:
        return await get_transcript(found, caller, namespace, name, after=after, limit=limit)
