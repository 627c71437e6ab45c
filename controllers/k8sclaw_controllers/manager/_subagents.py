"""Sub-agents: spawn requests become child AgentRuns; a child's end answers its parent.

A spawn request arrives on `k8sclaw.agent.spawn.request.<ns>.<run>`: the namespace and
the parent run come from that subject (which the publisher's credentials confine to its
own run), never from the payload, which is the agent's and hostile. The child is made by
`build_run` with a deterministic name (parent + request id: a replayed request finds it
already made), owned by the parent (deleting the parent deletes the child), labelled
with the parent's name, and confined to the parent's tool policy. The depth and child
limits are checked here (admission checks depth again on create); a refusal names the
rule. When the child ends, its answer (or error) is published to the parent as an
`agent.followup` carrying `subagentResult`, which the parent's bridge writes into
`/ipc/input` for the waiting `spawn_subagent` call; the parent's `status.children`
follows the child's phase. A parent that ends first cancels its running children.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._outcome import Outcome
from k8sclaw_protocol import (
    TERMINAL_PHASES,
    AgentRun,
    ClawInstance,
    ClawPolicy,
    Event,
    OwnerReference,
    ParentRef,
    SpawnRequest,
    SubagentResult,
    build_run,
    events,
    ipc,
    names,
)
from k8sclaw_protocol._common import SubagentsSpec
from k8sclaw_protocol._ipc import FOLLOWUP_SUBAGENT_KEY

log = logging.getLogger("k8sclaw.controller.subagents")
Body = dict[str, Any]
ANNOTATION_REQUEST = f"{names.GROUP}/subagent-request"
"""On a child run: the request id its answer must carry back to the parent."""
TASK_CAP = 32 * 1024
PROMPT_CAP = 16 * 1024
ANSWER_CAP = 64 * 1024
PARENT_PREFIX = 44
_ATTEMPTS = 5


class RefusedError(Exception):
    """No child for this request; the message names the rule."""


def child_name(parent: AgentRun, request_id: str) -> str:
    """`<parent>-sub-<hash>`: one name per (parent, request), at most 59 characters."""
    digest = hashlib.sha256(f"{parent.metadata.uid}\0{request_id}".encode()).hexdigest()[:10]
    return f"{parent.name[:PARENT_PREFIX].rstrip('-')}-sub-{digest}"


def _clip(text: str, cap: int) -> str:
    return text.encode()[:cap].decode(errors="ignore")


async def on_spawn(ctx: Context, namespace: str, parent_name: str, event: Event) -> None:
    """Handle one spawn request published by run `parent_name`'s bridge."""
    try:
        request = SpawnRequest.model_validate(event.data)
    except ValidationError:
        log.warning("ignoring a malformed spawn request from %s/%s", namespace, parent_name)
        return
    request_id = request.request_id or f"s{event.sequence or 0}"
    parent = await _live_run(ctx, namespace, parent_name)
    if parent is None or parent.is_terminal or parent.metadata.deletion_timestamp:
        return  # a replayed request of a finished run: nobody waits for it
    name = child_name(parent, request_id)
    if await _live_run(ctx, namespace, name) is not None:
        return  # already made (the request was delivered again)
    try:
        child = await _build_child(ctx, parent, request, request_id, name)
        await ctx.kube.create(_kube.claw(namespace, "agentruns"), child.to_wire(), read=False)
    except RefusedError as exc:
        await _refuse(ctx, parent, request_id, str(exc))
        return
    except _kube.ConflictError:
        return
    except _kube.KubeError as exc:  # admission said no: its message names the rule
        await _refuse(ctx, parent, request_id, exc.message)
        return
    ctx.event(parent.to_wire(), "SubagentCreated", f"created sub-agent run {name}")
    await set_child_phase(ctx, namespace, parent.name, name, "Pending")


async def _build_child(
    ctx: Context, parent: AgentRun, request: SpawnRequest, request_id: str, name: str
) -> AgentRun:
    from k8sclaw_controllers.manager import _agentrun

    try:
        instance = await _agentrun._get_instance(ctx, parent)
        policy = await _agentrun._policy(ctx, parent, instance)
    except _agentrun.PrecheckError as exc:
        raise RefusedError(str(exc)) from exc
    depth = (parent.spec.parent.spawn_depth if parent.spec.parent else 0) + 1
    siblings = await _children(ctx, parent.namespace, parent.name)
    active = await _active_subagents(ctx, parent.namespace, instance.name)
    check_limits(depth, len(siblings), active, instance, policy)
    child = build_run(
        instance,
        ipc.strip_markers(_clip(request.task, TASK_CAP)),
        source="subagent",
        name=name,
        session_key=f"subagent-{name}",
        system_prompt=_clip(request.system_prompt or "", PROMPT_CAP) or None,
        timeout=parent.spec.timeout,
        parent=ParentRef(
            run_name=parent.name, session_key=parent.spec.session_key, spawn_depth=depth
        ),
        labels={names.LABEL_PARENT_RUN: parent.name},
    )
    child.spec.tool_policy = parent.spec.tool_policy  # never wider than the parent's
    child.metadata.annotations[ANNOTATION_REQUEST] = request_id
    child.metadata.owner_references = [
        OwnerReference(
            api_version=names.GROUP_VERSION,
            kind=AgentRun.info.kind,
            name=parent.name,
            uid=parent.metadata.uid or "",
            controller=True,
            block_owner_deletion=True,
        )
    ]
    return child


def check_limits(
    depth: int,
    siblings: int,
    active: int,
    instance: ClawInstance,
    policy: ClawPolicy | None,
) -> None:
    """Raise `RefusedError` naming the first limit the new child would break."""
    limits = instance.spec.agents.default.subagents or SubagentsSpec()
    rules = policy.spec.subagent_policy if policy else None
    if policy is not None and rules is not None and depth > rules.max_depth:
        text = f"spawn depth {depth} exceeds {rules.max_depth}"
        raise RefusedError(f"ClawPolicy {policy.name} subagentPolicy.maxDepth: {text}")
    if depth > limits.max_depth:
        text = f"spawn depth {depth} exceeds {limits.max_depth}"
        raise RefusedError(f"ClawInstance {instance.name} spec.subagents.maxDepth: {text}")
    if siblings >= limits.max_children_per_agent:
        text = f"this run already spawned {siblings}, the limit is {limits.max_children_per_agent}"
        raise RefusedError(
            f"ClawInstance {instance.name} spec.subagents.maxChildrenPerAgent: {text}"
        )
    if active >= limits.max_concurrent:
        text = f"{active} sub-agents are running, the limit is {limits.max_concurrent}"
        raise RefusedError(f"ClawInstance {instance.name} spec.subagents.maxConcurrent: {text}")


async def _refuse(ctx: Context, parent: AgentRun, request_id: str, message: str) -> None:
    log.info("refused a sub-agent of %s/%s: %s", parent.namespace, parent.name, message)
    ctx.event(parent.to_wire(), "SubagentRefused", message, warning=True)
    result = SubagentResult(request_id=request_id, status="error", error=f"refused: {message}")
    await _answer(ctx, parent.namespace, parent.name, result, f"refused:{request_id}")


async def _live_run(ctx: Context, namespace: str, name: str) -> AgentRun | None:
    try:
        return AgentRun.from_wire(await ctx.kube.get(_kube.claw(namespace, "agentruns", name)))
    except _kube.NotFoundError:
        return None


async def _children(ctx: Context, namespace: str, parent: str) -> list[Body]:
    selector = f"{names.LABEL_PARENT_RUN}={parent}"
    return await ctx.kube.items(_kube.claw(namespace, "agentruns"), selector)


async def _active_subagents(ctx: Context, namespace: str, instance: str) -> int:
    """Non-terminal sub-agent runs of the instance (every parent's)."""
    selector = f"{names.LABEL_INSTANCE}={instance}"
    items = await ctx.kube.items(_kube.claw(namespace, "agentruns"), selector)
    return sum(1 for item in items if _is_active_child(item))


def _is_active_child(item: Body) -> bool:
    labels = (item.get("metadata") or {}).get("labels") or {}
    phase = (item.get("status") or {}).get("phase") or "Pending"
    return names.LABEL_PARENT_RUN in labels and phase not in TERMINAL_PHASES


async def run_ended(ctx: Context, run: AgentRun, outcome: Outcome) -> None:
    """`run` just became terminal: answer its parent, cancel its children. Never raises
    (the run's own end is already recorded; a failure here is logged)."""
    phase = "Succeeded" if outcome.succeeded else "Failed"
    try:
        await child_finished(ctx, run, phase, outcome.result or "", outcome.error or "")
        await parent_finished(ctx, run, phase)
    except Exception:
        log.exception("sub-agent bookkeeping for %s/%s failed", run.namespace, run.name)


async def child_finished(
    ctx: Context, child: AgentRun, phase: str, result: str, error: str
) -> None:
    """A child became terminal: answer the parent's waiting call, record the phase."""
    ref = child.spec.parent
    if ref is None:
        return
    request_id = child.metadata.annotations.get(ANNOTATION_REQUEST)
    if request_id:
        answer = SubagentResult(
            request_id=request_id,
            run=child.name,
            status="success" if phase == "Succeeded" else "error",
            response=_clip(result, ANSWER_CAP) if phase == "Succeeded" else None,
            error=None if phase == "Succeeded" else (error or "the sub-agent failed"),
        )
        await _answer(ctx, child.namespace, ref.run_name, answer, f"{child.name}:{phase}")
    await set_child_phase(ctx, child.namespace, ref.run_name, child.name, phase)


async def _answer(
    ctx: Context, namespace: str, parent: str, result: SubagentResult, key: str
) -> None:
    bus = ctx.bus
    if bus is None:
        log.warning("no event bus: cannot answer %s/%s's sub-agent call", namespace, parent)
        return
    data = {FOLLOWUP_SUBAGENT_KEY: result.model_dump(by_alias=True, exclude_none=True)}
    event = events.fit(Event.new(events.AGENT_FOLLOWUP, data, {events.META_NAMESPACE: namespace}))
    msg_id = f"subagent:{namespace}:{parent}:{key}"
    await bus.publish(event, scope=(namespace, parent), msg_id=msg_id, retry=True, give_up_after=30)


async def set_child_phase(
    ctx: Context, namespace: str, parent: str, child: str, phase: str
) -> None:
    """Record `child`'s phase in the parent's `status.children` (read, modify, write with
    the read resourceVersion; retried on conflict)."""
    path = _kube.claw(namespace, "agentruns", parent)
    for _ in range(_ATTEMPTS):
        try:
            body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            return
        status = body.get("status") or {}
        children = [c for c in status.get("children") or [] if c.get("name") != child]
        children.append({"name": child, "phase": phase})
        version = body["metadata"].get("resourceVersion")
        patch = {"metadata": {"resourceVersion": version}, "status": {"children": children}}
        try:
            await ctx.kube.patch(path + "/status", patch, read=False)
            return
        except _kube.ConflictError:
            continue


async def parent_finished(ctx: Context, parent: AgentRun, phase: str) -> None:
    """The parent ended (done, failed or timed out): cancel its still-running children."""
    from k8sclaw_controllers.manager import _completion

    if not (parent.status and parent.status.children):
        return  # never spawned: no list call on the path every run takes
    for item in await _children(ctx, parent.namespace, parent.name):
        if not _is_active_child(item):
            continue
        name = item["metadata"]["name"]
        with contextlib.suppress(_kube.NotFoundError):
            await ctx.kube.delete(
                _kube.group("batch/v1", parent.namespace, "jobs", names.job_name(name)),
                "Foreground",
            )
        await _completion.fail(
            ctx,
            parent.namespace,
            name,
            "ParentEnded",
            f"the parent run {parent.name} ended ({phase}); this sub-agent was cancelled",
        )


async def parent_deleted(ctx: Context, namespace: str, parent: str) -> None:
    """The parent is gone: delete its children (the garbage collector does too, through
    the owner reference; this also covers a cluster without one)."""
    for item in await _children(ctx, namespace, parent):
        with contextlib.suppress(_kube.NotFoundError):
            name = item["metadata"]["name"]
            await ctx.kube.delete(_kube.claw(namespace, "agentruns", name))
