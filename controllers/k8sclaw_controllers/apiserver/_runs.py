"""Runs: creation through the shared run builder, their logs and transcripts, sessions.

`POST …/runs` needs `create agentruns` and `get clawinstances/<instanceRef>` (the run copies
the instance's provider, secret reference, model and skills, which a caller who may not
read the instance must not learn that way). Transcript and sessions need what `kubectl`
needs to see the runs they come from: `get agentruns/<name>` for one run's transcript,
`list agentruns` for sessions, which span runs. Logs need `get agentruns/<name>` and
`get pods/log`, as `kubectl logs` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from k8sclaw_controllers.apiserver._auth import Access, Caller
from k8sclaw_controllers.apiserver._deps import DNS_LABEL, CallerDep, Deps, DepsDep
from k8sclaw_controllers.apiserver._errors import ERROR_RESPONSES, ApiError
from k8sclaw_controllers.apiserver._kinds import INSTANCES, RUNS
from k8sclaw_controllers.apiserver._objects import (
    DefaultNamespace,
    Name,
    Namespace,
    Obj,
    clean,
    get_object,
    translate,
)
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import ClawInstance, build_run, names

LOG_LIMIT_BYTES = 1 << 20
SessionKey = Annotated[str, Path(min_length=1, max_length=253, pattern=r"^[^/\x00-\x1f]+$")]


class CreateRun(BaseModel):
    """A run of an instance; everything else comes from the instance (shared run builder)."""

    model_config = ConfigDict(extra="forbid")

    instanceRef: str = Field(pattern=DNS_LABEL, max_length=63)  # noqa: N815 - wire name
    task: str = Field(min_length=1, max_length=100_000)
    name: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    sessionKey: str | None = Field(default=None, min_length=1, max_length=253)  # noqa: N815
    systemPrompt: str | None = Field(default=None, max_length=100_000)  # noqa: N815
    timeout: str | None = Field(default=None, pattern=r"^[0-9]+(s|m|h)$", max_length=16)


async def create_run(deps: Deps, caller: Caller, namespace: str, request: CreateRun) -> Obj:
    await deps.authz.require(caller, Access("create", RUNS.plural, namespace))
    raw = await get_object(deps, caller, INSTANCES, namespace, request.instanceRef)
    instance = ClawInstance.from_wire(raw)
    try:
        run = build_run(
            instance,
            request.task,
            source="api",
            name=request.name,
            session_key=request.sessionKey,
            system_prompt=request.systemPrompt,
            timeout=request.timeout,
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    try:
        return clean(await deps.kube.create(_kube.claw(namespace, RUNS.plural), run.to_wire()))
    except _kube.KubeError as exc:
        raise translate(exc) from exc


async def run_logs(deps: Deps, caller: Caller, namespace: str, name: str) -> str:
    await deps.authz.require(caller, Access("get", "pods", namespace, subresource="log", group=""))
    run = await get_object(deps, caller, RUNS, namespace, name)
    pod = await _pod_of(deps, namespace, name, run)
    if pod is None:
        why = f"agentrun {name} has no pod (not started, or deleted after it ended)"
        raise ApiError(404, f"{why}; its transcript is at …/runs/{name}/transcript")
    params = {"container": names.CONTAINER_AGENT, "limitBytes": str(LOG_LIMIT_BYTES)}
    try:
        return await deps.kube.text(_kube.core(namespace, "pods", pod, "log"), **params)
    except _kube.KubeError as exc:
        raise translate(exc) from exc


async def _pod_of(deps: Deps, namespace: str, name: str, run: Obj) -> str | None:
    status = run.get("status") or {}
    if status.get("podName"):
        return str(status["podName"])
    job = status.get("jobName") or names.job_name(name)
    try:
        pods = await deps.kube.items(_kube.core(namespace, "pods"), f"job-name={job}")
    except _kube.KubeError as exc:
        raise translate(exc) from exc
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    return str(pods[0]["metadata"]["name"]) if pods else None


def store_of(deps: Deps) -> Any:
    if deps.transcripts is None:
        raise ApiError(503, "no transcript store is configured on this API server")
    return deps.transcripts


async def transcript(
    deps: Deps, caller: Caller, namespace: str, name: str, *, after: int | None, limit: int
) -> Any:
    await deps.authz.require(caller, Access("get", RUNS.plural, namespace, name))
    page = await store_of(deps).transcript(namespace, name, after=after, limit=limit)
    if page.run is None and not page.events:
        await get_object(deps, caller, RUNS, namespace, name)  # 404 unless the run exists
    return jsonable_encoder(page)


async def sessions(deps: Deps, caller: Caller, namespace: str, instance: str | None) -> Any:
    await deps.authz.require(caller, Access("list", RUNS.plural, namespace))
    return {"items": jsonable_encoder(await store_of(deps).sessions(namespace, instance))}


async def session(
    deps: Deps, caller: Caller, namespace: str, key: str, *, after: int | None, limit: int
) -> Any:
    await deps.authz.require(caller, Access("list", RUNS.plural, namespace))
    found = await store_of(deps).session(namespace, key, after=after, limit=limit)
    if found is None:
        raise ApiError(404, f'session "{key}" not found in namespace "{namespace}"')
    return jsonable_encoder(found)


After = Annotated[int | None, Query(ge=0, description="only events after this sequence")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
InstanceQuery = Annotated[str | None, Query(pattern=DNS_LABEL, max_length=63)]
NS = "/namespaces/{namespace}"


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["runs"])
    _run_routes(api)
    _transcript_routes(api)
    return api


def _run_routes(api: APIRouter) -> None:

    @api.post(f"{NS}/runs", operation_id="create_runs", status_code=201)
    async def create_ns(
        namespace: Namespace, body: CreateRun, deps: DepsDep, caller: CallerDep
    ) -> Obj:
        return await create_run(deps, caller, namespace, body)

    @api.post("/runs", operation_id="create_runs_flat", status_code=201)
    async def create_flat(
        body: CreateRun, deps: DepsDep, caller: CallerDep, namespace: DefaultNamespace = "default"
    ) -> Obj:
        return await create_run(deps, caller, namespace, body)

    @api.get(f"{NS}/runs/{{name}}/logs", operation_id="run_logs", response_class=PlainTextResponse)
    async def logs(namespace: Namespace, name: Name, deps: DepsDep, caller: CallerDep) -> str:
        return await run_logs(deps, caller, namespace, name)


def _transcript_routes(api: APIRouter) -> None:

    @api.get(f"{NS}/runs/{{name}}/transcript", operation_id="run_transcript")
    async def get_transcript(
        namespace: Namespace,
        name: Name,
        deps: DepsDep,
        caller: CallerDep,
        *,
        after: After = None,
        limit: Limit = 500,
    ) -> Any:
        return await transcript(deps, caller, namespace, name, after=after, limit=limit)

    @api.get(f"{NS}/sessions", operation_id="list_sessions", tags=["sessions"])
    async def list_sessions(
        namespace: Namespace, deps: DepsDep, caller: CallerDep, instance: InstanceQuery = None
    ) -> Any:
        return await sessions(deps, caller, namespace, instance)

    @api.get(f"{NS}/sessions/{{key}}", operation_id="get_session", tags=["sessions"])
    async def get_session(
        namespace: Namespace,
        key: SessionKey,
        deps: DepsDep,
        caller: CallerDep,
        *,
        after: After = None,
        limit: Limit = 500,
    ) -> Any:
        return await session(deps, caller, namespace, key, after=after, limit=limit)
