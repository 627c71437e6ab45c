"""AgentRun reconciler: pre-checks -> ServiceAccount -> skills -> Job -> Running (SPEC §3).

Called for every watch event of an AgentRun. Idempotent: the Job has the run's name, so a
restart can only meet AlreadyExists, never make a duplicate. Terminal runs are final and
never get the finalizer back.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from k8sclaw_controllers.manager import (
    _completion,
    _health,
    _instance,
    _jobbuilder,
    _kube,
    _skills,
)
from k8sclaw_controllers.manager._context import Context, condition, now, timestamp
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy, names

log = logging.getLogger("k8sclaw.controller.agentrun")
Body = dict[str, Any]


class PrecheckError(Exception):
    """The run may not start; the message says why and how to fix it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """Bring one AgentRun one step closer to its desired state."""
    run = AgentRun.from_wire(body)
    key = (run.namespace, run.name)
    if event_type == "DELETED":
        ctx.state.forget(key)
        return
    record = ctx.state.observe(run)
    if run.metadata.deletion_timestamp:
        await _deleted(ctx, run)
    elif run.is_terminal:
        await _completion.after_terminal(ctx, run)
    elif record.phase != run.phase:
        return  # a stale event: this process already moved the run further
    elif run.phase == "Running":
        await _running(ctx, run)
    else:
        await _start(ctx, run, body)


async def _start(ctx: Context, run: AgentRun, body: Body) -> None:
    try:
        tools = await precheck(ctx, run)
    except PrecheckError as exc:
        await _completion.fail(ctx, run.namespace, run.name, exc.reason, str(exc))
        return
    await _ensure_service_account(ctx, run.namespace)
    await _skills.mirror_for_run(ctx, run)
    await _add_finalizer(ctx, run)
    job = _jobbuilder.build_job(run, ctx.job_options, tools)
    try:
        await ctx.kube.create(_kube.group("batch/v1", run.namespace, "jobs"), job)
        ctx.event(body, "JobCreated", f"created Job {run.name}")
        _health.RUNS_STARTED.inc()
    except _kube.ConflictError:
        log.info("Job %s/%s already exists; adopting it", run.namespace, run.name)
    started = timestamp()
    status = {
        "phase": "Running",
        "jobName": names.job_name(run.name),
        "startedAt": started,
        "observedGeneration": run.metadata.generation,
        "conditions": [
            condition("Ready", False, "Running", "the agent is working", run.metadata.generation),
            condition(
                "Progressing",
                True,
                "JobCreated",
                f"Job {run.name} created",
                run.metadata.generation,
            ),
        ],
    }
    await ctx.kube.patch(_run_path(run, "status"), {"status": status})
    ctx.state.runs[(run.namespace, run.name)].phase = "Running"
    _schedule_timeout(ctx, run, 0.0)
    _instance.schedule_refresh(ctx, run.namespace, run.spec.instance_ref)


async def precheck(ctx: Context, run: AgentRun) -> _jobbuilder.Tools:
    """Instance exists, sub-agent depth and concurrency within the policy; effective tools."""
    instance = await _get_instance(ctx, run)
    policy = await _policy(ctx, run, instance)
    tools = _jobbuilder.tools_from_spec(run)
    if policy is None:
        return tools
    limits = policy.spec.subagent_policy
    if limits and run.spec.parent and run.spec.parent.spawn_depth > limits.max_depth:
        raise PrecheckError(
            "DepthExceeded",
            f"sub-agent depth {run.spec.parent.spawn_depth} "
            f"exceeds maxDepth {limits.max_depth} of policy {policy.name}",
        )
    if limits:
        active = ctx.state.running(run.namespace, run.spec.instance_ref, exclude=run.name)
        if active >= limits.max_concurrent:
            raise PrecheckError(
                "ConcurrencyLimit",
                f"concurrency limit reached: {active}/"
                f"{limits.max_concurrent} runs of instance "
                f"{run.spec.instance_ref} are Running; retry when one ends",
            )
    return effective_tools(tools, policy)


def effective_tools(tools: _jobbuilder.Tools, policy: ClawPolicy) -> _jobbuilder.Tools:
    """The run's tools narrowed by the policy's gating (deny wins; default deny = allowlist)."""
    gating = policy.spec.tool_gating
    if gating is None:
        return tools
    denied = [r.tool for r in gating.rules if r.action == "deny"]
    deny = tuple(dict.fromkeys([*tools.deny, *denied]))
    allow = tools.allow
    if gating.default_action == "deny":
        allowed = [r.tool for r in gating.rules if r.action != "deny"]
        allow = tuple(t for t in (allow or allowed) if t in allowed) or ("none",)
    return _jobbuilder.Tools(allow, deny)


async def _get_instance(ctx: Context, run: AgentRun) -> ClawInstance:
    body = ctx.state.instances.get((run.namespace, run.spec.instance_ref))
    if body is None:
        path = _kube.claw(run.namespace, "clawinstances", run.spec.instance_ref)
        try:
            body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            raise PrecheckError(
                "InstanceNotFound",
                f"ClawInstance {run.spec.instance_ref!r} "
                f"not found in {run.namespace}; create it or fix "
                "spec.instanceRef",
            ) from None
    return ClawInstance.from_wire(body)


async def _policy(ctx: Context, run: AgentRun, instance: ClawInstance) -> ClawPolicy | None:
    ref = instance.spec.policy_ref
    if not ref:
        return None
    body = ctx.state.policies.get((run.namespace, ref))
    if body is None:
        try:
            body = await ctx.kube.get(_kube.claw(run.namespace, "clawpolicies", ref))
        except _kube.NotFoundError:
            raise PrecheckError(
                "PolicyNotFound",
                f"ClawPolicy {ref!r} of instance "
                f"{instance.name} not found; create it or fix "
                "spec.policyRef",
            ) from None
    return ClawPolicy.from_wire(body)


async def _ensure_service_account(ctx: Context, namespace: str) -> None:
    if namespace in ctx.state.service_accounts:
        return
    body = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": names.AGENT_SERVICE_ACCOUNT,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
        },
        "automountServiceAccountToken": False,
    }
    with contextlib.suppress(_kube.ConflictError):
        await ctx.kube.create(_kube.core(namespace, "serviceaccounts"), body)
    ctx.state.service_accounts.add(namespace)


async def _add_finalizer(ctx: Context, run: AgentRun) -> None:
    finalizers = run.metadata.finalizers
    if names.FINALIZER_AGENT_RUN in finalizers:
        return
    patch = {
        "metadata": {
            "finalizers": [*finalizers, names.FINALIZER_AGENT_RUN],
            "resourceVersion": run.metadata.resource_version,
        }
    }
    await ctx.kube.patch(_run_path(run), patch)


async def _running(ctx: Context, run: AgentRun) -> None:
    """First sight of a Running run in this process: arm its deadline, check its Job."""
    key = (run.namespace, run.name)
    if key in ctx.state.deadlines:
        return
    started = run.status.started_at if run.status else None
    elapsed = (_now_ts() - started.timestamp()) if started else 0.0
    _schedule_timeout(ctx, run, elapsed)
    try:
        await ctx.kube.get(_kube.group("batch/v1", run.namespace, "jobs", run.name))
    except _kube.NotFoundError:
        await _completion.fail(
            ctx,
            run.namespace,
            run.name,
            "JobMissing",
            f"Job {run.name} disappeared before the run finished",
        )


def _schedule_timeout(ctx: Context, run: AgentRun, elapsed: float) -> None:
    timeout = _jobbuilder.run_timeout_seconds(run, ctx.settings.default_timeout_seconds)
    ns, name = run.namespace, run.name
    ctx.state.set_deadline(
        (ns, name), timeout - elapsed, lambda: _completion.time_out(ctx, ns, name, run.spec.timeout)
    )


async def _deleted(ctx: Context, run: AgentRun) -> None:
    """Run being deleted: take its Job down in the foreground, then let the run go."""
    ctx.state.cancel_deadline((run.namespace, run.name))
    if names.FINALIZER_AGENT_RUN not in run.metadata.finalizers:
        return
    with contextlib.suppress(_kube.NotFoundError):
        await ctx.kube.delete(
            _kube.group("batch/v1", run.namespace, "jobs", run.name), propagation="Foreground"
        )
    await _completion.remove_finalizer(ctx, run)


def _run_path(run: AgentRun, sub: str = "") -> str:
    return _kube.claw(run.namespace, "agentruns", run.name, sub)


def _now_ts() -> float:
    return now().timestamp()
