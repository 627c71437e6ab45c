"""How runs end: from Pod/Job status or the bus, whichever comes first; then clean up.

Every terminal transition re-reads the run live and patches its status with the read
resourceVersion, so two sources racing (bus and kubelet) cannot both win, and a
Succeeded or Failed run never changes again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from k8sclaw_controllers.manager import (
    _health,
    _instance,
    _kube,
    _outcome,
    _spend,
    _subagents,
)
from k8sclaw_controllers.manager._context import Context, condition, timestamp
from k8sclaw_protocol import AgentRun, names

log = logging.getLogger("k8sclaw.controller.completion")
Body = dict[str, Any]
LOG_TAIL_LINES = "200"
_ATTEMPTS = 5
BUS_UNAVAILABLE = "BusUnavailable"


async def finish(
    ctx: Context, namespace: str, name: str, outcome: _outcome.Outcome, pod_name: str | None = None
) -> bool:
    """Make the run terminal with `outcome`; False when it already was (or is gone)."""
    path = _kube.claw(namespace, "agentruns", name)
    for _ in range(_ATTEMPTS):
        try:
            body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            return False
        run = AgentRun.from_wire(body)
        if run.is_terminal:
            ctx.state.observe(run)
            return False
        cost = _spend.cost_of(ctx, run, outcome.token_usage)
        status = _terminal_status(run, outcome, pod_name)
        if cost is not None:
            status["cost"] = cost.to_wire()
        patch = {"metadata": {"resourceVersion": run.metadata.resource_version}, "status": status}
        try:
            await ctx.kube.patch(path + "/status", patch)
        except _kube.ConflictError:
            continue
        record = ctx.state.runs.get((namespace, name))
        if record is not None and record.uid == run.metadata.uid:
            record.phase = "Succeeded" if outcome.succeeded else "Failed"
        ctx.state.cancel_deadline((namespace, name))
        message = "the agent finished" if outcome.succeeded else (outcome.error or "")
        ctx.event(body, outcome.reason or "Completed", message, warning=not outcome.succeeded)
        _health.RUNS_FINISHED.labels(record.phase if record else "", outcome.reason).inc()
        await _spend.record(ctx, run, cost)
        ctx.wake_queued(namespace, run.spec.instance_ref)
        await _subagents.run_ended(ctx, run, outcome)
        await prune_history(ctx, namespace, run.spec.instance_ref)
        _instance.schedule_refresh(ctx, namespace, run.spec.instance_ref)
        return True
    log.warning("gave up marking %s/%s terminal after %d conflicts", namespace, name, _ATTEMPTS)
    return False


def _terminal_status(run: AgentRun, outcome: _outcome.Outcome, pod_name: str | None) -> Body:
    generation = run.metadata.generation
    phase = "Succeeded" if outcome.succeeded else "Failed"
    status: Body = {
        "phase": phase,
        "completedAt": timestamp(),
        "result": outcome.result,
        "error": outcome.error,
        "exitCode": outcome.exit_code,
        "tokenUsage": outcome.token_usage.to_wire() if outcome.token_usage else None,
        "pendingApprovals": None,  # nobody waits any more
        "observedGeneration": generation,
        "conditions": [
            condition(
                "Ready", outcome.succeeded, outcome.reason or phase, outcome.error or "", generation
            ),
            condition("Progressing", False, phase, "", generation),
            condition(
                "Failed",
                not outcome.succeeded,
                outcome.reason or phase,
                outcome.error or "",
                generation,
            ),
        ],
    }
    if outcome.reason == _spend.REASON_EXCEEDED:
        status["conditions"].append(
            condition("BudgetExceeded", True, outcome.reason, outcome.error or "", generation)
        )
    if outcome.bus_problem:
        status["conditions"].append(
            condition("EventBus", False, BUS_UNAVAILABLE, outcome.bus_problem, generation)
        )
    if pod_name and not (run.status and run.status.pod_name):
        status["podName"] = pod_name
    if not (run.status and run.status.started_at):
        status["startedAt"] = status["completedAt"]
    return {k: v for k, v in status.items() if v is not None}


async def fail(ctx: Context, namespace: str, name: str, reason: str, message: str) -> bool:
    """Fail a run with a machine reason and a human message."""
    outcome = _outcome.Outcome(succeeded=False, error=message, reason=reason)
    return await finish(ctx, namespace, name, outcome)


async def time_out(ctx: Context, namespace: str, name: str, limit: str) -> None:
    """The run's deadline passed: delete its Job and fail it with reason Timeout."""
    ctx.state.deadlines.pop((namespace, name), None)
    try:
        run = AgentRun.from_wire(await ctx.kube.get(_kube.claw(namespace, "agentruns", name)))
    except _kube.NotFoundError:
        return
    if run.is_terminal:
        return
    await _delete_job(ctx, namespace, name, "Foreground")
    await fail(
        ctx,
        namespace,
        name,
        "Timeout",
        f"the run exceeded its timeout of {limit}; its Job was deleted",
    )


async def _delete_job(ctx: Context, namespace: str, name: str, propagation: str) -> None:
    with contextlib.suppress(_kube.NotFoundError):
        await ctx.kube.delete(_kube.group("batch/v1", namespace, "jobs", name), propagation)


async def after_terminal(ctx: Context, run: AgentRun) -> None:
    """Terminal run: drop the finalizer, delete a finished Job (cleanup=delete), prune history."""
    ctx.state.cancel_deadline((run.namespace, run.name))
    if names.FINALIZER_AGENT_RUN in run.metadata.finalizers:
        await remove_finalizer(ctx, run)
    if run.spec.cleanup == "delete":
        await delete_finished_job(ctx, run.namespace, run.name)


async def delete_finished_job(ctx: Context, namespace: str, name: str) -> None:
    """Delete the Job of a terminal run once its pod has stopped (the bridge has flushed)."""
    record = ctx.state.runs.get((namespace, name))
    if record is None or record.job_deleted:
        return
    if ctx.job_exists(namespace, name) is False:  # known gone: no GET per old run on restart
        record.job_deleted = True
        return
    try:
        job = await ctx.kube.get(_kube.group("batch/v1", namespace, "jobs", name))
    except _kube.NotFoundError:
        record.job_deleted = True
        return
    if job_finished(job):
        await _delete_job(ctx, namespace, name, "Background")
        record.job_deleted = True


def job_finished(job: Body) -> bool:
    """True when the Job has completed or failed."""
    status = job.get("status") or {}
    if status.get("succeeded") or status.get("failed"):
        return True
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


async def remove_finalizer(ctx: Context, run: AgentRun) -> None:
    """Remove our finalizer with a resourceVersion-guarded merge patch."""
    rest = [f for f in run.metadata.finalizers if f != names.FINALIZER_AGENT_RUN]
    patch = {
        "metadata": {"finalizers": rest or None, "resourceVersion": run.metadata.resource_version}
    }
    # Gone, or changed since: the next event brings the fresh object.
    with contextlib.suppress(_kube.NotFoundError, _kube.ConflictError):
        await ctx.kube.patch(_kube.claw(run.namespace, "agentruns", run.name), patch)


async def prune_history(ctx: Context, namespace: str, instance: str) -> None:
    """Delete the oldest finished runs of an instance beyond the history limit."""
    finished = ctx.state.finished(namespace, instance)
    excess = len(finished) - ctx.settings.history_limit
    for name, _record in finished[: max(excess, 0)]:
        with contextlib.suppress(_kube.NotFoundError):
            await ctx.kube.delete(_kube.claw(namespace, "agentruns", name))
        ctx.state.forget((namespace, name))
