"""ClawInstance reconciler: channel Deployments, memory ConfigMap, counters and conditions.

Deployments are created, updated (config hash) and deleted to match `spec.channels`;
missing Secrets are reported as a condition instead of a crash-looping pod. Status is
patched only when it changed, so our own patch does not trigger another round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import ValidationError

from k8sclaw_controllers.manager import _buscreds, _channels, _clawpolicy, _kube, _netpol
from k8sclaw_controllers.manager._context import Context, condition, timestamp
from k8sclaw_controllers.manager._outcome import clean_text
from k8sclaw_protocol import ChannelSpec, ClawInstance, names
from k8sclaw_protocol._chat import HealthReport

log = logging.getLogger("k8sclaw.controller.instance")
Body = dict[str, Any]
MAX_HEALTH_MESSAGE = 1024


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """Bring an instance's children and status in line with its spec."""
    meta = body.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    if event_type == "DELETED" or meta.get("deletionTimestamp"):  # maybe a tombstone
        ctx.state.instances.pop(key, None)
        ctx.state.parsed.pop(("ClawInstance", *key), None)
        await _clawpolicy.refresh_namespace(ctx, key[0])
        return  # owner references let the garbage collector remove Deployments
    instance = ClawInstance.from_wire(body)
    previous = ctx.state.instances.get(key)
    ctx.state.instances[key] = body
    if previous is None or _policy_ref(previous) != instance.spec.policy_ref:
        _netpol.invalidate(ctx, instance.namespace, instance.name)
        await _clawpolicy.refresh_namespace(ctx, instance.namespace)
    elif previous.get("spec") != body.get("spec") and (
        _netpol.endpoint_of(previous) != _netpol.endpoint_of(body)
    ):
        # A new model endpoint; parsed only when the spec changed, not on status events.
        _netpol.invalidate(ctx, instance.namespace, instance.name)
    channels = [await _channel(ctx, instance, ch) for ch in instance.spec.channels]
    await _delete_removed_channels(ctx, instance)
    await _delete_removed_children(ctx, instance)
    if instance.spec.memory is None or instance.spec.memory.enabled:
        await _create_if_missing(ctx, _channels.memory_configmap(instance))
    await write_status(ctx, body, instance, channels)


def _policy_ref(body: Body) -> str | None:
    ref = (body.get("spec") or {}).get("policyRef")
    return str(ref) if ref else None


async def _channel(ctx: Context, instance: ClawInstance, channel: ChannelSpec) -> Body:
    """Create or update one channel Deployment; its status entry."""
    secret_name = channel.config_ref.secret
    try:
        secret = await ctx.kube.get(_kube.core(instance.namespace, "secrets", secret_name))
    except _kube.NotFoundError:
        return {
            "type": channel.type,
            "status": "Error",
            "message": f"Secret {secret_name!r} not found; create it with kubectl create "
            f"secret generic {secret_name} -n {instance.namespace} ...",
        }
    version = str((secret.get("metadata") or {}).get("resourceVersion", ""))
    await _apply_children(ctx, instance, channel)
    creds = None
    if ctx.bus_seed is not None:
        owner = _channels.owner(instance)[0]
        creds_body = _buscreds.channel_secret_for(instance, ctx.bus_seed, owner)
        await _buscreds.create_once(ctx.kube, creds_body)
        creds = creds_body["metadata"]["name"]
    desired = _channels.channel_deployment(
        instance,
        channel,
        ctx.settings.images.channel,
        ctx.settings.event_bus_url,
        version,
        bus_creds_secret=creds,
    )
    name = desired["metadata"]["name"]
    path = _kube.group("apps/v1", instance.namespace, "deployments", name)
    try:
        current = await ctx.kube.get(path)
    except _kube.NotFoundError:
        await ctx.kube.create(_kube.group("apps/v1", instance.namespace, "deployments"), desired)
        ctx.event(
            ctx.state.instances[(instance.namespace, instance.name)],
            "ChannelCreated",
            f"created Deployment {name}",
        )
        return {"type": channel.type, "status": "Pending", "message": "Deployment created"}
    digest = desired["metadata"]["annotations"][_channels.ANNOTATION_CONFIG_HASH]
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if annotations.get(_channels.ANNOTATION_CONFIG_HASH) != digest:
        await ctx.kube.patch(
            path,
            {
                "metadata": {
                    "labels": desired["metadata"]["labels"],
                    "annotations": {_channels.ANNOTATION_CONFIG_HASH: digest},
                },
                "spec": desired["spec"],
            },
        )
        ctx.event(
            ctx.state.instances[(instance.namespace, instance.name)],
            "ChannelUpdated",
            f"updated Deployment {name}",
        )
        return {"type": channel.type, "status": "Pending", "message": "Deployment updated"}
    ready = (current.get("status") or {}).get("readyReplicas") or 0
    health = ctx.state.channel_health.get((instance.namespace, instance.name, channel.type))
    if health is not None:
        # The pod's own report is the finer truth; an Error pod is never ready.
        return {"type": channel.type, **health}
    if ready > 0:
        return {"type": channel.type, "status": "Connected"}
    return {"type": channel.type, "status": "Disconnected", "message": "no ready replica yet"}


def health_of(data: object) -> Body | None:
    """Channel status from a `channel.health.update` payload (`chat.HealthReport`;
    untrusted: anything that does not validate is ignored, the message is cleaned)."""
    try:
        report = HealthReport.model_validate(data)
    except ValidationError:
        return None
    health: Body = {
        "channel": report.channel,
        "status": report.state,
        "lastHealthCheck": timestamp(),
    }
    if report.message:
        health["message"] = clean_text(report.message, MAX_HEALTH_MESSAGE)
    return health


async def apply_health(ctx: Context, namespace: str, name: str, health: Body) -> None:
    """Record a channel's health report and write it into the instance's channel status."""
    kind = health.pop("channel")
    ctx.state.channel_health[(namespace, name, kind)] = health
    path = _kube.claw(namespace, "clawinstances", name)
    try:
        body = await ctx.kube.get(path)
    except _kube.NotFoundError:
        return
    old = (body.get("status") or {}).get("channels") or []
    if not any(c.get("type") == kind and not _broken_before_pod(c) for c in old):
        return  # not deployed (yet), or broken for a reason the report cannot fix
    channels = [{"type": kind, **health} if c.get("type") == kind else c for c in old]
    with contextlib.suppress(_kube.NotFoundError):
        await ctx.kube.patch(path + "/status", {"status": {"channels": channels}})


def _broken_before_pod(channel_status: Body) -> bool:
    """An Error the controller found (a missing Secret), not one a pod reported."""
    return channel_status.get("status") == "Error" and "lastHealthCheck" not in channel_status


async def _apply_children(ctx: Context, instance: ClawInstance, channel: ChannelSpec) -> None:
    """The channel's NetworkPolicy and, in webhook mode, its Service and Ingress."""
    children = [_channels.channel_network_policy(instance, channel)]
    if _channels.needs_webhook(channel):
        children.append(_channels.channel_service(instance, channel))
    ingress = _channels.channel_ingress(instance, channel)
    if ingress is not None:
        children.append(ingress)
    for body in children:
        api, plural = _CHILD_KINDS[body["kind"]]
        name = body["metadata"]["name"]
        await ctx.kube.apply(_kube.group(api, instance.namespace, plural, name), body)


_CHILD_KINDS = {
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "Service": ("v1", "services"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
}


async def _delete_removed_children(ctx: Context, instance: ClawInstance) -> None:
    """Services, Ingresses and NetworkPolicies of channels no longer in the spec (or no
    longer in webhook mode, or without a host)."""
    wanted = {
        "networkpolicies": {c.type for c in instance.spec.channels},
        "services": {c.type for c in instance.spec.channels if _channels.needs_webhook(c)},
        "ingresses": {
            c.type
            for c in instance.spec.channels
            if _channels.channel_ingress(instance, c) is not None
        },
    }
    selector = (
        f"{names.LABEL_INSTANCE}={instance.name},{names.LABEL_COMPONENT}={names.COMPONENT_CHANNEL}"
    )
    for api, plural in _CHILD_KINDS.values():
        path = _kube.group(api, instance.namespace, plural)
        for child in await ctx.kube.items(path, selector):
            meta = child["metadata"]
            if (meta.get("labels") or {}).get(names.LABEL_CHANNEL) in wanted[plural]:
                continue
            with contextlib.suppress(_kube.NotFoundError):
                await ctx.kube.delete(f"{path}/{meta['name']}")


async def _delete_removed_channels(ctx: Context, instance: ClawInstance) -> None:
    wanted = {names.channel_deployment_name(instance.name, c.type) for c in instance.spec.channels}
    selector = (
        f"{names.LABEL_INSTANCE}={instance.name},{names.LABEL_COMPONENT}={names.COMPONENT_CHANNEL}"
    )
    path = _kube.group("apps/v1", instance.namespace, "deployments")
    for deployment in await ctx.kube.items(path, selector):
        name = deployment["metadata"]["name"]
        if name in wanted:
            continue
        try:
            await ctx.kube.delete(f"{path}/{name}")
        except _kube.NotFoundError:
            continue
        ctx.event(
            ctx.state.instances[(instance.namespace, instance.name)],
            "ChannelDeleted",
            f"deleted Deployment {name}: its channel was removed from the spec",
        )


async def _create_if_missing(ctx: Context, body: Body) -> None:
    # Memory belongs to the agents once it exists: never overwrite it.
    with contextlib.suppress(_kube.ConflictError):
        await ctx.kube.create(_kube.core(body["metadata"]["namespace"], "configmaps"), body)


async def write_status(
    ctx: Context, body: Body, instance: ClawInstance, channels: list[Body]
) -> None:
    """Patch the status when (and only when) it differs from what is stored."""
    generation = instance.metadata.generation
    broken = [c for c in channels if c["status"] == "Error"]
    missing = any(_broken_before_pod(c) for c in broken)
    ready = condition(
        "Ready",
        not broken,
        "SecretsMissing" if missing else "ChannelError" if broken else "Reconciled",
        "; ".join(c["message"] for c in broken),
        generation,
    )
    old = body.get("status") or {}
    status = {
        "phase": "Error" if broken else "Running",
        "observedGeneration": generation,
        "channels": channels,
        **counters(ctx, instance, old),
        "conditions": keep_transition_times(old.get("conditions") or [], [ready]),
    }
    if {k: old.get(k) for k in status} == status:
        return
    await ctx.kube.patch(
        _kube.claw(instance.namespace, "clawinstances", instance.name, "status"), {"status": status}
    )


def counters(ctx: Context, instance: ClawInstance, old: Body) -> Body:
    """activeAgentPods, totalAgentRuns (never decreasing) and token totals."""
    runs = [
        r
        for (ns, _), r in ctx.state.runs.items()
        if ns == instance.namespace and r.instance == instance.name
    ]
    tokens = old.get("tokenUsage") or {}
    return {
        "activeAgentPods": sum(1 for r in runs if r.phase == "Running"),
        "totalAgentRuns": max(int(old.get("totalAgentRuns") or 0), len(runs)),
        "tokenUsage": {
            "inputTokens": max(
                int(tokens.get("inputTokens") or 0), sum(r.input_tokens for r in runs)
            ),
            "outputTokens": max(
                int(tokens.get("outputTokens") or 0), sum(r.output_tokens for r in runs)
            ),
            "totalTokens": max(
                int(tokens.get("totalTokens") or 0),
                sum(r.input_tokens + r.output_tokens for r in runs),
            ),
        },
    }


def keep_transition_times(old: list[Body], new: list[Body]) -> list[Body]:
    """Keep lastTransitionTime of conditions whose status did not change."""
    before = {c.get("type"): c for c in old}
    merged = []
    for fresh in new:
        cond = fresh
        prior = before.get(cond["type"])
        if prior and all(
            prior.get(k) == cond.get(k)
            for k in ("status", "reason", "message", "observedGeneration")
        ):
            cond = {**cond, "lastTransitionTime": prior.get("lastTransitionTime")}
        merged.append(cond)
    return merged


REFRESH_DELAY = 1.0
_pending: set[tuple[int, str, str]] = set()


def schedule_refresh(ctx: Context, namespace: str, instance: str) -> None:
    """Refresh an instance's counters soon, coalescing the bursts of many run transitions."""
    key = (id(ctx), namespace, instance)
    if key in _pending:
        return
    _pending.add(key)

    async def refresh() -> None:
        await asyncio.sleep(REFRESH_DELAY)
        _pending.discard(key)
        path = _kube.claw(namespace, "clawinstances", instance)
        try:
            body = await ctx.kube.get(path)
        except _kube.KubeError:
            return
        old = body.get("status") or {}
        fresh = counters(ctx, ClawInstance.from_wire(body), old)
        if {k: old.get(k) for k in fresh} != fresh:
            with contextlib.suppress(_kube.NotFoundError):
                await ctx.kube.patch(path + "/status", {"status": fresh})

    ctx.state.spawn(refresh())
