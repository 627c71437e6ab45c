"""Cluster operations the TUI performs; synchronous, called from thread workers.

Runs are created only through `build_run(..., source="tui")`. Onboarding has its own
small headless `apply_onboarding` here because the CLI's wizard has no reusable one yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from k8sclaw.kube import ConflictError, Kube, NotFoundError
from k8sclaw.tui._store import PODS, Pod
from k8sclaw_protocol import (
    AgentDefaults,
    AgentRun,
    ChannelSpec,
    ClawInstance,
    ClawInstanceSpec,
    ClawPolicy,
    ClawPolicySpec,
    ObjectMeta,
    SecretKeyRef,
    build_run,
    names,
)
from k8sclaw_protocol._instance import AgentsSpec, ConfigRef

DEFAULT_POLICY = "default-policy"
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-20250514", "ollama": "llama3"}


def create_run(kube: Kube, instance: ClawInstance, task: str) -> AgentRun:
    """Create a run of `instance` through the shared builder (labels, model, auth)."""
    return kube.create(build_run(instance, task, source="tui"))


def delete(kube: Kube, kind: str, obj: Any) -> str:
    """Delete the object behind a row (missing is fine); "" so callers can chain a message."""
    if kind == PODS:
        assert isinstance(obj, Pod)
        kube.delete_raw("v1", "Pod", obj.name, obj.namespace, missing_ok=True)
        return ""
    kube.delete_raw(names.GROUP_VERSION, obj.info.kind, obj.name, obj.namespace, missing_ok=True)
    return ""


def namespaces(kube: Kube) -> list[str]:
    """Names of all namespaces (for `/ns` completion)."""
    return sorted(n["metadata"]["name"] for n in kube.list_raw("v1", "Namespace", None))


def events(kube: Kube, kind: str, name: str, namespace: str) -> list[str]:
    """Kubernetes Events about one object: TIME TYPE REASON MESSAGE, oldest first."""
    selector = f"involvedObject.name={name},involvedObject.kind={kind}"
    body = kube.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/events",
        what="events",
        query=[("fieldSelector", selector)],
    )
    items = sorted(body.get("items") or [], key=_event_time)
    lines = [f"{'TIME':<22} {'TYPE':<8} {'REASON':<18} MESSAGE"]
    for ev in items:
        lines.append(
            f"{_event_time(ev):<22} {ev.get('type', ''):<8} {ev.get('reason', ''):<18} "
            f"{' '.join(str(ev.get('message', '')).split())}"
        )
    if len(lines) == 1:
        lines.append(f"(no events for {kind} {name})")
    return lines


def _event_time(ev: dict[str, Any]) -> str:
    return str(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or "")


def pod_log(kube: Kube, pod: str, namespace: str) -> Iterator[str]:
    """Follow the agent container's log of a pod."""
    return kube.pod_logs(pod, namespace, container=names.CONTAINER_AGENT, follow=True)


@dataclass(frozen=True)
class Onboarding:
    """The wizard's answers."""

    instance: str
    provider: str
    model: str
    api_key: str = ""
    channel: str = ""
    channel_token: str = ""
    policy: bool = True


def apply_onboarding(kube: Kube, namespace: str, answers: Onboarding) -> list[str]:
    """Create (or update) the Secrets, default ClawPolicy and ClawInstance; one line each."""
    done: list[str] = []
    auth: list[SecretKeyRef] = []
    if answers.api_key:
        secret = f"{answers.instance}-{answers.provider}-key"
        _put_secret(kube, namespace, secret, {"API_KEY": answers.api_key})
        auth.append(SecretKeyRef(provider=answers.provider, secret=secret))
        done.append(f"✓ Secret {secret}")
    channels: list[ChannelSpec] = []
    if answers.channel:
        secret = f"{answers.instance}-{answers.channel}"
        _put_secret(kube, namespace, secret, {"TOKEN": answers.channel_token})
        channels.append(ChannelSpec(type=answers.channel, config_ref=ConfigRef(secret=secret)))
        done.append(f"✓ Secret {secret}")
    if answers.policy:
        policy = ClawPolicy(
            metadata=ObjectMeta(name=DEFAULT_POLICY, namespace=namespace), spec=ClawPolicySpec()
        )
        _create_or_update(kube, policy)
        done.append(f"✓ ClawPolicy {DEFAULT_POLICY}")
    spec = ClawInstanceSpec(
        channels=channels,
        agents=AgentsSpec(default=AgentDefaults(model=answers.model, provider=answers.provider)),
        auth_refs=auth,
        policy_ref=DEFAULT_POLICY if answers.policy else None,
    )
    instance = ClawInstance(
        metadata=ObjectMeta(name=answers.instance, namespace=namespace), spec=spec
    )
    _create_or_update(kube, instance)
    done += [f"✓ ClawInstance {answers.instance}", "Onboarding complete: press R to run a task."]
    return done


def _put_secret(kube: Kube, namespace: str, name: str, data: dict[str, str]) -> None:
    kube.delete_raw("v1", "Secret", name, namespace, missing_ok=True)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": data,
    }
    kube.request("POST", f"/api/v1/namespaces/{namespace}/secrets", what="secrets", body=body)


def _create_or_update(kube: Kube, obj: ClawPolicy | ClawInstance) -> None:
    try:
        kube.create(obj)
    except ConflictError:
        spec = obj.spec.to_wire()
        try:
            kube.patch(type(obj), obj.name, obj.namespace, {"spec": spec})
        except NotFoundError:
            kube.create(obj)
