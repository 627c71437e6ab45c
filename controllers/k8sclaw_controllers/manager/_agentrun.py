"""AgentRun reconciler: pre-checks -> ServiceAccount -> skills -> NetworkPolicies -> Job
-> Running (SPEC §3).

Called for every watch event of an AgentRun. Idempotent: the Job has the run's name, so a
restart can only meet AlreadyExists, never make a duplicate. Two writes start a run (the
Job and one status patch); terminal runs are final. A run over its instance's
concurrency limit waits Pending (condition `Queued`) and starts when a slot frees.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, TypeVar

from k8sclaw_controllers.manager import (
    _approvals,
    _completion,
    _health,
    _instance,
    _jobbuilder,
    _kube,
    _launch,
    _spend,
    _subagents,
)
from k8sclaw_controllers.manager._context import Context, condition, now, timestamp
from k8sclaw_controllers.policy import (
    Decision,
    bind,
    effective_tool_policy,
    evaluate_run,
    name_token,
)
from k8sclaw_protocol import (
    MAX_RUN_NAME,
    TERMINAL_PHASES,
    AgentRun,
    ClawInstance,
    ClawPolicy,
    SkillPack,
    ToolPolicy,
    names,
)

log = logging.getLogger("k8sclaw.controller.agentrun")
Body = dict[str, Any]
RULE_CONCURRENCY = "subagentPolicy.maxConcurrent"
RULE_DEPTH = "subagentPolicy.maxDepth"
RULE_INSTANCE_DEPTH = "spec.subagents.maxDepth"
M = TypeVar("M", ClawInstance, ClawPolicy)


class PrecheckError(Exception):
    """The run may not start; the message says why and how to fix it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """Bring one AgentRun one step closer to its desired state."""
    if event_type == "DELETED":  # the body may be a tombstone: read only its key
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        gone = ctx.state.forget(key)
        if gone is not None and gone.phase not in TERMINAL_PHASES:
            await _delete_job(ctx, *key)
            ctx.wake_queued(key[0], gone.instance)
        if (body.get("status") or {}).get("children"):
            await _subagents.parent_deleted(ctx, *key)
        return
    run = AgentRun.from_wire(body)
    record = ctx.state.observe(run)
    decision = (run.metadata.annotations or {}).get(names.ANNOTATION_APPROVAL_DECISION)
    if decision is not None and not run.metadata.deletion_timestamp:
        await _approvals.on_annotation(ctx, run, decision)
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
        tools, bound, budget_env = await precheck(ctx, run)
        await _ensure_service_account(ctx, run.namespace)
        created = await _launch.launch(ctx, bound, tools, budget_env)
    except _launch.RefusedError as exc:
        if exc.reason == _launch.QUOTA:
            await _launch.wait_for_quota(ctx, run, str(exc))
        else:
            await _completion.fail(ctx, run.namespace, run.name, exc.reason, str(exc))
        return
    except PrecheckError as exc:
        await _completion.fail(ctx, run.namespace, run.name, exc.reason, str(exc))
        return
    except QueuedError as exc:
        await _queue(ctx, run, str(exc), exc.limit)
        return
    ctx.state.quota_attempts.pop((run.namespace, run.name), None)
    if created:
        ctx.event(body, "JobCreated", f"created Job {run.name}")
        _health.RUNS_STARTED.inc()
    else:
        log.info("Job %s/%s already exists; adopting it", run.namespace, run.name)
    # One status write per start: phase, Job, start time and conditions together.
    generation = run.metadata.generation
    status = {
        "phase": "Running",
        "jobName": names.job_name(run.name),
        "startedAt": timestamp(),
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", False, "Running", "the agent is working", generation),
            condition("Progressing", True, "JobCreated", f"Job {run.name} created", generation),
        ],
    }
    await ctx.kube.patch(_run_path(run, "status"), {"status": status}, read=False)
    ctx.state.runs[(run.namespace, run.name)].phase = "Running"
    _schedule_timeout(ctx, run, 0.0)
    _instance.schedule_refresh(ctx, run.namespace, run.spec.instance_ref)


class QueuedError(Exception):
    """The instance is at its concurrency limit: the run waits (Pending) for a slot."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


async def precheck(
    ctx: Context, run: AgentRun
) -> tuple[_jobbuilder.Tools, AgentRun, dict[str, str]]:
    """Judge the run with the shared policy engine (the webhook's rules, confinement
    included); its effective tools, the run bound to its instance's model binding (what
    the Job is built from) and its per-run budget cap (the agent's BUDGET_* variables).

    A spent budget refuses the run (Failed, `BudgetExceeded`) before any slot is counted:
    queueing it until the day or month resets would hold it for up to a month.

    Defence in depth: with the webhook installed these rules already held at admission;
    without it, this is where they are enforced. The concurrency limit is the one rule
    that queues instead of failing: the run stays Pending until a slot frees.
    """
    _check_name(run)
    instance = await _get_instance(ctx, run)
    policy = await _policy(ctx, run, instance)
    spent = _spend.refusal(ctx, instance, policy)
    if spent is not None:
        raise PrecheckError(_spend.REASON_EXCEEDED, spent)
    packs = await _skill_packs(ctx, run)
    limits = policy.spec.subagent_policy if policy else None
    key = (run.namespace, run.name)
    if limits:
        await _count_slots_once(ctx, run.namespace, run.spec.instance_ref)
    # No await from here on: counting and taking the slot happen in one step.
    active = (
        ctx.state.running(run.namespace, run.spec.instance_ref, exclude=run.name)
        if limits
        else None
    )
    decision = evaluate_run(
        run, policy, running_in_instance=active, instance=instance, skill_packs=packs
    )
    waiting = [v for v in decision.violations if v.rule == RULE_CONCURRENCY]
    refused = [v for v in decision.violations if v.rule != RULE_CONCURRENCY]
    if refused:
        depth = refused[0].rule in (RULE_DEPTH, RULE_INSTANCE_DEPTH)
        reason = "DepthExceeded" if depth else "PolicyViolation"
        message = Decision(policy=decision.policy, violations=tuple(refused)).message
        raise PrecheckError(reason, message)
    if waiting and limits is not None:
        raise QueuedError(waiting[0].message, limits.max_concurrent)
    record = ctx.state.runs.get(key)
    if record is not None:
        record.holds_slot = True
    bound = bind(run, instance)
    tools = effective_tools(_jobbuilder.tools_from_spec(run), policy)
    return tools, bound, _spend.run_env(bound, instance, policy)


def _check_name(run: AgentRun) -> None:
    """A name the bus cannot carry (dots, upper case) that a Job would still accept; the
    webhook (or the CRD's CEL rule) refuses these at create. Longer names are left to
    the API server, whose 422 on the Job fails the run with its own message."""
    named = name_token("AgentRun", run.name)
    if named and len(run.name) <= MAX_RUN_NAME:
        raise PrecheckError("InvalidName", Decision(violations=tuple(named)).message)


async def _skill_packs(ctx: Context, run: AgentRun) -> set[str]:
    """SkillPacks the run names that exist in its namespace or the system namespace
    (from the watch, else a live read: right after a start the watch may lag)."""
    found = set()
    for ref in run.spec.skills:
        name = ref.skill_pack_ref
        for namespace in (run.namespace, names.SYSTEM_NAMESPACE):
            if not name or name in found:
                break
            if (namespace, name) in ctx.state.skillpacks:
                found.add(name)
                continue
            with contextlib.suppress(_kube.NotFoundError):
                await ctx.kube.get(_kube.claw(namespace, SkillPack.info.plural, name))
                found.add(name)
    return found


async def _count_slots_once(ctx: Context, namespace: str, instance: str) -> None:
    """Before this process first counts an instance's slots, see every run of it.

    Right after a (re)start the watch delivers the existing runs one by one; counting
    from those seen so far would admit a Pending run while Running ones are still unseen.
    One fresh list per (namespace, instance) and process closes that gap; afterwards the
    watch keeps the records current.
    """
    if (namespace, instance) in ctx.state.slots_counted:
        return
    async with ctx.state.lock("slots", namespace, instance):
        if (namespace, instance) in ctx.state.slots_counted:
            return
        for item in await ctx.kube.items(_kube.claw(namespace, "agentruns")):
            listed = AgentRun.from_wire(item)
            if listed.spec.instance_ref == instance:
                ctx.state.observe(listed)
        ctx.state.slots_counted.add((namespace, instance))


async def _queue(ctx: Context, run: AgentRun, message: str, limit: int) -> None:
    """Keep the run Pending with a `Queued` condition saying why; woken when a slot frees."""
    ctx.state.enqueue(run.namespace, run.spec.instance_ref, run.name)
    if not await _launch.mark_queued(ctx, run, "ConcurrencyLimit", message):
        return
    ctx.event(run.to_wire(), "Queued", message)
    # A slot may have freed while the patch was in flight.
    if ctx.state.running(run.namespace, run.spec.instance_ref, exclude=run.name) < limit:
        ctx.wake_queued(run.namespace, run.spec.instance_ref)


def effective_tools(tools: _jobbuilder.Tools, policy: ClawPolicy | None) -> _jobbuilder.Tools:
    """The run's tools narrowed by the policy, exactly as the mutating webhook narrows them."""
    if policy is None:
        return tools
    allow = None if tools.allow is None else list(tools.allow)
    requested = ToolPolicy(
        allow=allow,
        deny=list(tools.deny) or None,
        ask=list(tools.ask) or None,
        approval_timeout_seconds=tools.approval_timeout,
    )
    effective = effective_tool_policy(policy, requested)
    return _jobbuilder.Tools(
        tuple(effective.allow or ()),
        tuple(effective.deny or ()),
        tuple(effective.ask or ()),
        effective.approval_timeout_seconds,
    )


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
    return _parsed(ctx, ClawInstance, body)


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
    return _parsed(ctx, ClawPolicy, body)


def _parsed(ctx: Context, model: type[M], body: Body) -> M:
    """The model of a cached wire body, parsed once while that body is current (watch
    events replace bodies, never change them in place)."""
    meta = body.get("metadata") or {}
    key = (model.__name__, meta.get("namespace", ""), meta.get("name", ""))
    cached = ctx.state.parsed.get(key)
    if cached is not None and cached[0] is body:
        return cached[1]  # type: ignore[no-any-return]
    parsed = model.from_wire(body)
    ctx.state.parsed[key] = (body, parsed)
    return parsed


async def _ensure_service_account(ctx: Context, namespace: str) -> None:
    if namespace in ctx.state.service_accounts:
        return
    async with ctx.state.lock("serviceaccount", namespace):
        if namespace not in ctx.state.service_accounts:
            await _create_service_account(ctx, namespace)


async def _create_service_account(ctx: Context, namespace: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": names.AGENT_SERVICE_ACCOUNT,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
        },
        "automountServiceAccountToken": False,
    }
    try:
        await ctx.kube.create(_kube.core(namespace, "serviceaccounts"), body)
    except _kube.ConflictError:
        pass
    except _kube.KubeError as exc:
        if exc.status != 403:
            raise
        # The first write of a run in its namespace: refused when the namespace never
        # opted in (no RoleBinding for our tenant role there; docs/security.md "## RBAC").
        raise PrecheckError(
            "NamespaceNotOnboarded",
            f"the controller may not create objects in namespace {namespace}: "
            f"opt it in with `k8sclaw onboard -n {namespace}` ({exc.message})",
        ) from exc
    ctx.state.service_accounts.add(namespace)


async def _running(ctx: Context, run: AgentRun) -> None:
    """First sight of a Running run in this process: arm its deadline, check its Job."""
    key = (run.namespace, run.name)
    if key in ctx.state.deadlines:
        return
    started = run.status.started_at if run.status else None
    elapsed = (_now_ts() - started.timestamp()) if started else 0.0
    _schedule_timeout(ctx, run, elapsed)
    _approvals.rearm(ctx, run)
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
    """Run being deleted: take its Job down in the foreground; free its slot.

    New runs carry no finalizer: the Job's controller ownerReference already cascades
    (the garbage collector deletes the Job even while this controller is down), and
    `kubectl delete --cascade=foreground` keeps the run until its pods are gone. Here the
    Job is deleted with Foreground propagation as soon as the deletion is seen. Runs made
    by an older controller may still hold the finalizer; it is removed after the Job.
    """
    await _delete_job(ctx, run.namespace, run.name)
    if names.FINALIZER_AGENT_RUN in run.metadata.finalizers:
        await _completion.remove_finalizer(ctx, run)


async def _delete_job(ctx: Context, namespace: str, name: str) -> None:
    """Stop the run's clock and take its Job (and pods) down in the foreground."""
    ctx.state.cancel_deadline((namespace, name))
    with contextlib.suppress(_kube.NotFoundError):
        await ctx.kube.delete(
            _kube.group("batch/v1", namespace, "jobs", names.job_name(name)),
            propagation="Foreground",
        )


def _run_path(run: AgentRun, sub: str = "") -> str:
    return _kube.claw(run.namespace, "agentruns", run.name, sub)


def _now_ts() -> float:
    return now().timestamp()
