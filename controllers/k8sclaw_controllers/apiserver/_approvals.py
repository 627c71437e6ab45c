"""Approvals: the pending calls of runs, and deciding on one.

`GET …/approvals` lists the `status.pendingApprovals` of the namespace's runs the caller
may `get`. `POST …/runs/{name}/approvals/{id}` needs `update agentruns/<name>` (deciding
is changing what the run does, as the annotation route needs `update`/`patch` too) and
publishes the decision on `tool.approval.response.<ns>.<run>` with the authenticated
user as `decidedBy` and `via: api`; a body cannot name the decider.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from k8sclaw_controllers.apiserver._auth import Access, Caller
from k8sclaw_controllers.apiserver._deps import CallerDep, Deps, DepsDep
from k8sclaw_controllers.apiserver._errors import ERROR_RESPONSES, ApiError
from k8sclaw_controllers.apiserver._kinds import RUNS
from k8sclaw_controllers.apiserver._objects import Name, Namespace, Obj, translate
from k8sclaw_controllers.manager import _approvals, _kube
from k8sclaw_protocol import ApprovalDecision

ApprovalId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,32}$")]


class Decide(BaseModel):
    """A decision on one pending approval."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=1024)


def _pending(run: Obj) -> list[dict[str, Any]]:
    status = run.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return []
    return list(status.get("pendingApprovals") or [])


async def _readable(deps: Deps, caller: Caller, namespace: str, runs: list[Obj]) -> list[Obj]:
    """The runs `caller` may `get` (one review for the namespace, else one per run)."""
    if await deps.authz.allowed(caller, Access("get", RUNS.plural, namespace)):
        return runs
    answers = await asyncio.gather(
        *(
            deps.authz.allowed(caller, Access("get", RUNS.plural, namespace, r["metadata"]["name"]))
            for r in runs
        )
    )
    return [run for run, ok in zip(runs, answers, strict=True) if ok]


async def list_approvals(deps: Deps, caller: Caller, namespace: str) -> dict[str, Any]:
    try:
        runs = await deps.kube.items(_kube.claw(namespace, RUNS.plural))
    except _kube.KubeError as exc:
        raise translate(exc) from exc
    waiting = [run for run in runs if _pending(run)]
    items = [
        {"run": run["metadata"]["name"], "namespace": namespace, **approval}
        for run in await _readable(deps, caller, namespace, waiting)
        for approval in _pending(run)
    ]
    return {"items": items}


async def decide(  # noqa: PLR0917 - the route's path parameters, in order
    deps: Deps, caller: Caller, namespace: str, name: str, approval_id: str, body: Decide
) -> dict[str, Any]:
    await deps.authz.require(caller, Access("update", RUNS.plural, namespace, name))
    try:
        run = await deps.kube.get(_kube.claw(namespace, RUNS.plural, name))
    except _kube.KubeError as exc:
        raise translate(exc) from exc
    if not any(item.get("id") == approval_id for item in _pending(run)):
        raise ApiError(404, f'approval "{approval_id}" is not pending on agentrun "{name}"')
    if deps.hub is None:
        raise ApiError(503, "this API server has no event bus (EVENT_BUS_URL); cannot decide")
    decision = ApprovalDecision(
        id=approval_id,
        decision=body.decision,
        decided_by=caller.username,
        via="api",
        reason=body.reason,
        decided_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    await _approvals.publish(deps.hub.bus, namespace, name, decision)
    return decision.model_dump(by_alias=True, exclude_none=True)


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["approvals"])

    @api.get("/namespaces/{namespace}/approvals", operation_id="list_approvals")
    async def pending(namespace: Namespace, deps: DepsDep, caller: CallerDep) -> Any:
        return await list_approvals(deps, caller, namespace)

    @api.post(
        "/namespaces/{namespace}/runs/{name}/approvals/{approval_id}",
        operation_id="decide_approval",
    )
    async def post_decision(  # noqa: PLR0917 - FastAPI passes parameters by name
        namespace: Namespace,
        name: Name,
        approval_id: ApprovalId,
        body: Decide,
        deps: DepsDep,
        caller: CallerDep,
    ) -> Any:
        return await decide(deps, caller, namespace, name, approval_id, body)

    return api
