"""Spend budgets in the controller: refuse at dispatch, price finished runs, keep
`ClawInstance.status.spend`, announce 80% and 100% once per period (issue #17).

The refusal comes before the concurrency-slot count: a run over budget must not take
(or wait for) a slot. Spend is added once per run, right after the one terminal status
write that succeeded (`_completion.finish` is the only writer that can win), so a run is
never counted twice; a controller crash between the two writes loses that run's spend
(under-counts, never over-counts). Periods are UTC days and months read from `ctx.clock`.
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import (
    AgentRun,
    Budgets,
    ClawInstance,
    ClawPolicy,
    InstanceSpend,
    RunCost,
    SpendPeriod,
    TokenUsage,
    budgets,
    instance_provider,
)

log = logging.getLogger("k8sclaw.controller.spend")
Body = dict[str, Any]
_ATTEMPTS = 5
REASON_EXCEEDED = "BudgetExceeded"
REASON_WARNING = "BudgetWarning"


def in_force(instance: ClawInstance, policy: ClawPolicy | None) -> Budgets | None:
    """The instance's budgets over its policy's, key by key."""
    return budgets.merged(policy.spec.budgets if policy else None, instance.spec.budgets)


def _spend_of(body: Body | None) -> InstanceSpend | None:
    raw = ((body or {}).get("status") or {}).get("spend")
    if not raw:
        return None
    try:
        return InstanceSpend.model_validate(raw)
    except ValueError:
        return None


def _freshest(ctx: Context, namespace: str, name: str) -> InstanceSpend | None:
    """The newest spend known for an instance: the watch's body or this process's own
    last write, whichever has counted more this month (spend only grows in a period; the
    watch may still deliver a body older than our write)."""
    now = ctx.clock.now()
    known = [
        _spend_of(ctx.state.instances.get((namespace, name))),
        _spend_of({"status": {"spend": ctx.state.spend.get((namespace, name))}}),
    ]

    def size(spend: InstanceSpend | None) -> tuple[int, Decimal]:
        month = budgets.current(spend, now).month
        return (month.total_tokens, Decimal(month.cost)) if month else (0, Decimal(0))

    return max(known, key=size)


def namespace_month(ctx: Context, namespace: str) -> SpendPeriod:
    """This month's spend of every instance of the namespace (from the watch's cache)."""
    spends = [_freshest(ctx, ns, name) for ns, name in ctx.state.instances if ns == namespace]
    return budgets.month_total(spends, ctx.clock.now())


def refusal(ctx: Context, instance: ClawInstance, policy: ClawPolicy | None) -> str | None:
    """Why a run of `instance` may not start now (a budget is spent), or None."""
    limits = in_force(instance, policy)
    if limits is None:
        return None
    spend = _freshest(ctx, instance.namespace, instance.name)
    namespace = namespace_month(ctx, instance.namespace) if limits.namespace_monthly else None
    why = budgets.exceeded(limits, spend, ctx.clock.now(), namespace)
    return f"ClawInstance {instance.name}: {why}" if why else None


def price(run: AgentRun, instance: ClawInstance | None) -> budgets.Price | None:
    """The price of the run's model (instance override, else the shipped table)."""
    provider = run.spec.model.provider or (instance_provider(instance) if instance else "openai")
    overrides = instance.spec.prices if instance else None
    return budgets.price_for(provider, run.spec.model.model, overrides)


def run_env(run: AgentRun, instance: ClawInstance, policy: ClawPolicy | None) -> dict[str, str]:
    """The per-run cap the agent enforces on its own loop (BUDGET_* variables)."""
    return budgets.run_caps(in_force(instance, policy), price(run, instance))


def cost_of(ctx: Context, run: AgentRun, usage: TokenUsage | None) -> RunCost | None:
    """`status.cost` of a run that ended with `usage` (None when it used nothing)."""
    if usage is None or usage.input_tokens + usage.output_tokens == 0:
        return None
    body = ctx.state.instances.get((run.namespace, run.spec.instance_ref))
    instance = None
    if body is not None:
        with contextlib.suppress(ValueError):
            instance = ClawInstance.from_wire(body)
    return budgets.run_cost(price(run, instance), usage.input_tokens, usage.output_tokens)


async def record(ctx: Context, run: AgentRun, cost: RunCost | None) -> None:
    """Add a finished run's cost to its instance's `status.spend`; post threshold Events."""
    if cost is None:
        return
    path = _kube.claw(run.namespace, "clawinstances", run.spec.instance_ref)
    for _ in range(_ATTEMPTS):
        try:
            body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            return
        try:
            written = await _add(ctx, path, body, cost)
        except _kube.ConflictError:
            continue
        ctx.state.spend[(run.namespace, run.spec.instance_ref)] = written
        return
    log.warning("gave up adding the spend of %s/%s after conflicts", run.namespace, run.name)


async def _add(ctx: Context, path: str, body: Body, cost: RunCost) -> Body:
    instance = ClawInstance.from_wire(body)
    now = ctx.clock.now()
    spend = budgets.add(_spend_of(body), cost, now)
    policy = await _policy(ctx, instance)
    limits = in_force(instance, policy)
    namespace = None
    if limits is not None and limits.namespace_monthly is not None:
        others = namespace_month(ctx, instance.namespace)
        mine = budgets.current(_freshest(ctx, instance.namespace, instance.name), now).month
        namespace = _plus(others, mine, spend.month)
    alerts = budgets.new_alerts(limits, spend, now, namespace)
    spend.alerted = [*spend.alerted, *(mark for mark, _, _ in alerts)][-64:]
    wire = spend.to_wire()
    patch = {"metadata": {"resourceVersion": instance.metadata.resource_version}}
    await ctx.kube.patch(path + "/status", {**patch, "status": {"spend": wire}})
    for _mark, usage, percent in alerts:
        full = percent >= budgets.FULL_PERCENT
        reason = REASON_EXCEEDED if full else REASON_WARNING
        message = (
            f"{usage.budget} at {percent}% ({usage.describe()}); "
            f"{'new runs are refused until' if full else 'it resets at'} "
            f"{usage.resets_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
        ctx.event(body, reason, message, warning=True)
    return wire


def _plus(total: SpendPeriod, old: SpendPeriod | None, new: SpendPeriod | None) -> SpendPeriod:
    """The namespace total with this instance's month replaced by its new value."""

    def part(p: SpendPeriod | None) -> tuple[int, Decimal]:
        return (p.total_tokens, Decimal(p.cost)) if p else (0, Decimal(0))

    (old_tokens, old_cost), (new_tokens, new_cost) = part(old), part(new)
    return SpendPeriod(
        start=total.start,
        total_tokens=max(total.total_tokens - old_tokens + new_tokens, 0),
        cost=str(max(Decimal(total.cost) - old_cost + new_cost, Decimal(0))),
    )


async def _policy(ctx: Context, instance: ClawInstance) -> ClawPolicy | None:
    ref = instance.spec.policy_ref
    if not ref:
        return None
    body = ctx.state.policies.get((instance.namespace, ref))
    if body is None:
        try:
            body = await ctx.kube.get(_kube.claw(instance.namespace, "clawpolicies", ref))
        except _kube.NotFoundError:
            return None
    try:
        return ClawPolicy.from_wire(body)
    except ValueError:
        return None
