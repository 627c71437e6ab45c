"""ClawPolicy reconciler: `boundInstances` recomputed when policies or instances change."""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.manager import _kube, _netpol
from k8sclaw_controllers.manager._context import Context, condition

Body = dict[str, Any]


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """A policy changed: cache it and write its bound-instance count."""
    meta = body.get("metadata") or {}
    key = (meta.get("namespace", ""), meta.get("name", ""))
    if event_type == "DELETED" or meta.get("deletionTimestamp"):
        ctx.state.policies.pop(key, None)
        ctx.state.parsed.pop(("ClawPolicy", *key), None)
        return
    previous = ctx.state.policies.get(key)
    ctx.state.policies[key] = body
    if previous is not None and previous.get("spec") != body.get("spec"):
        _netpol.invalidate(ctx, key[0])  # the next run re-applies its NetworkPolicies
    await _write(ctx, body)


async def refresh_namespace(ctx: Context, namespace: str) -> None:
    """Instances of `namespace` changed: refresh every known policy there."""
    for (ns, _name), body in list(ctx.state.policies.items()):
        if ns == namespace:
            await _write(ctx, body)


def bound_instances(ctx: Context, namespace: str, policy: str) -> int:
    """Instances of the namespace whose spec.policyRef names `policy`."""
    return sum(
        1
        for (ns, _), inst in ctx.state.instances.items()
        if ns == namespace and (inst.get("spec") or {}).get("policyRef") == policy
    )


async def _write(ctx: Context, body: Body) -> None:
    meta = body["metadata"]
    bound = bound_instances(ctx, meta["namespace"], meta["name"])
    old = body.get("status") or {}
    generation = meta.get("generation")
    if (
        old.get("boundInstances") == bound
        and old.get("observedGeneration") == generation
        and old.get("conditions")
    ):
        return
    status = {
        "boundInstances": bound,
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", True, "Reconciled", f"bound to {bound} instance(s)", generation)
        ],
    }
    try:
        result = await ctx.kube.patch(
            _kube.claw(meta["namespace"], "clawpolicies", meta["name"], "status"),
            {"status": status},
        )
    except _kube.NotFoundError:
        return
    ctx.state.policies[(meta["namespace"], meta["name"])] = result
