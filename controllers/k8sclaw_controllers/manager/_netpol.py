"""NetworkPolicies in a run's namespace, from the instance's ClawPolicy (via `netpol.py`).

When a run of an instance lands in a namespace, the agent and sandbox policies that
`network_policies` generates for that instance are server-side applied there (idempotent;
owned by the ClawInstance, so they go when it goes). Applied once per (namespace,
instance) per process, and again after the instance's policy or policyRef changes.

The agent pods' model endpoint is allowed too (see `netpol.py` for the rule per host
kind): when the instance's baseURL names a cluster Service, the Service is read here so
its pods can be selected; a missing or unreadable Service becomes a warning Event and
the public-HTTPS fallback.
"""

from __future__ import annotations

import logging
from typing import Any

from k8sclaw_controllers import netpol
from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import ClawInstance, ClawPolicy, instance_provider, names

log = logging.getLogger("k8sclaw.controller.netpol")
Body = dict[str, Any]


def _owned(policy_body: Body, instance: Body) -> Body:
    meta = instance.get("metadata") or {}
    policy_body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": names.GROUP_VERSION,
            "kind": "ClawInstance",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return policy_body


async def ensure(ctx: Context, namespace: str, instance_name: str) -> None:
    """Apply the instance's NetworkPolicies in `namespace` unless already applied."""
    key = (namespace, instance_name)
    if key in ctx.state.applied_netpols:
        return
    async with ctx.state.lock("netpol", *key):
        if key not in ctx.state.applied_netpols:
            await _apply(ctx, namespace, instance_name)


async def _apply(ctx: Context, namespace: str, instance_name: str) -> None:
    key = (namespace, instance_name)
    instance = ctx.state.instances.get(key) or await ctx.kube.get(
        _kube.claw(namespace, "clawinstances", instance_name)
    )
    ref = (instance.get("spec") or {}).get("policyRef")
    policy_body = None
    if ref:
        policy_body = ctx.state.policies.get((namespace, ref)) or await ctx.kube.get(
            _kube.claw(namespace, "clawpolicies", ref)
        )
    policy = ClawPolicy.from_wire(policy_body) if policy_body else None
    model = await model_access(ctx, namespace, instance)
    plan = netpol.network_policies(namespace, policy, instance=instance_name, model=model)
    for body in plan.policies:
        path = _kube.group(
            "networking.k8s.io/v1", namespace, "networkpolicies", body["metadata"]["name"]
        )
        await ctx.kube.apply(path, _owned(body, instance))
    for warning in plan.warnings:
        ctx.event(instance, "NetworkPolicyWarning", warning, warning=True)
    ctx.state.applied_netpols.add(key)
    log.info("applied %d NetworkPolicies for %s/%s", len(plan.policies), *key)


def _endpoint(instance: Body) -> netpol.ModelEndpoint:
    """The instance's model endpoint; ValueError with a one-line reason when unreadable."""
    try:
        parsed = ClawInstance.from_wire(instance)
    except ValueError:  # pydantic's multi-line ValidationError; the instance reconciler has it
        raise ValueError("the ClawInstance spec does not validate") from None
    return netpol.model_endpoint(instance_provider(parsed), parsed.spec.agents.default.base_url)


def endpoint_of(instance: Body) -> netpol.ModelEndpoint | None:
    """The model endpoint, or None when unreadable — compared between an instance's versions
    so a changed provider or baseURL re-applies the policies."""
    try:
        return _endpoint(instance)
    except ValueError:
        return None


async def model_access(ctx: Context, namespace: str, instance: Body) -> netpol.ModelAccess:
    """How the instance's pods in `namespace` reach its model (reads a named Service)."""
    try:
        endpoint = _endpoint(instance)
    except ValueError as exc:
        fallback = netpol.default_model_access(namespace)
        return netpol.ModelAccess(fallback.rules, (f"{exc}; allowing public HTTPS meanwhile",))
    ref = netpol.service_ref(endpoint.host, namespace)
    service, error = None, "not found"
    if ref is not None:
        try:
            service = await ctx.kube.get(_kube.core(ref.namespace, "services", ref.name))
        except _kube.NotFoundError:
            pass
        except _kube.KubeError as exc:
            error = f"could not be read ({exc.status} {exc.reason})"
    return netpol.model_access(endpoint, namespace, service=service, service_error=error)


def invalidate(ctx: Context, namespace: str, instance: str | None = None) -> None:
    """Forget what was applied (a policy, policyRef or model endpoint changed): the next run
    re-applies."""
    for key in list(ctx.state.applied_netpols):
        if key[0] == namespace and instance in (None, key[1]):
            ctx.state.applied_netpols.discard(key)
