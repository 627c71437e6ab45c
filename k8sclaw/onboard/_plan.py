"""Answers → the objects onboarding writes. Pure, so the wizard, `--non-interactive`
and the TUI wizard produce exactly the same Secrets, ClawPolicy and ClawInstance.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import yaml

from k8sclaw.onboard._providers import CHANNELS, PROVIDERS
from k8sclaw_protocol import ClawInstance, names

DEFAULT_POLICY = "default-policy"


@dataclass(frozen=True)
class Answers:
    """Everything the five steps ask. Secrets are held only until applied."""

    namespace: str
    instance: str
    provider: str
    model: str
    base_url: str | None = None
    api_key: str | None = None
    channel: str | None = None
    channel_token: str | None = None
    policy: bool = True

    def summary(self) -> list[tuple[str, str]]:
        """What the confirmation step shows (keys masked, never printed)."""
        rows = [
            ("Instance", f"{self.instance} (namespace {self.namespace})"),
            ("Provider", f"{self.provider}, model {self.model}"),
        ]
        if self.base_url:
            rows.append(("Base URL", self.base_url))
        rows.append(("API key", "********" if self.api_key else "(none)"))
        rows.append(("Channel", self.channel or "(none)"))
        rows.append(("Policy", DEFAULT_POLICY if self.policy else "(none)"))
        return rows


def _secret(name: str, namespace: str, key: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
        },
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode()},
    }


def default_policy(namespace: str) -> dict[str, Any]:
    """The balanced default policy (the shipped sample), image pinned to this release."""
    from k8sclaw.installer import SAMPLES_DIR

    body: dict[str, Any] = yaml.safe_load((SAMPLES_DIR / "clawpolicy.yaml").read_text())
    body["metadata"] = {
        "name": DEFAULT_POLICY,
        "namespace": namespace,
        "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
    }
    return body


def tenant_access(namespace: str) -> list[dict[str, Any]]:
    """The namespace opting in: labelled a tenant, and the RoleBinding that grants the
    controller its write role here (and only here: the role is never bound cluster-wide)."""
    labels = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
    ns = {names.LABEL_TENANT: names.TENANT_LABEL_VALUE}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": names.CONTROLLER_TENANT_BINDING,
            "namespace": namespace,
            "labels": labels,
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": names.CONTROLLER_TENANT_ROLE,
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": names.CONTROLLER_SERVICE_ACCOUNT,
                "namespace": names.SYSTEM_NAMESPACE,
            }
        ],
    }
    namespace_obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": ns},
    }
    return [namespace_obj, binding]


def plan(answers: Answers) -> list[dict[str, Any]]:
    """Objects to server-side apply, in order: the tenant namespace and the controller's
    RoleBinding in it, Secrets, policy, instance."""
    provider, ns, inst = PROVIDERS[answers.provider], answers.namespace, answers.instance
    objects: list[dict[str, Any]] = tenant_access(ns)
    auth_refs = []
    if answers.api_key and provider.key_env:
        secret = names.provider_secret_name(inst, provider.name)
        objects.append(_secret(secret, ns, provider.key_env, answers.api_key))
        auth_refs.append({"provider": provider.name, "secret": secret})
    channels = []
    if answers.channel:
        secret = names.channel_secret_name(inst, answers.channel)
        if answers.channel_token:
            token_env = CHANNELS[answers.channel].token_env
            objects.append(_secret(secret, ns, token_env, answers.channel_token))
        channels.append({"type": answers.channel, "configRef": {"secret": secret}})
    if answers.policy:
        objects.append(default_policy(ns))
    default: dict[str, Any] = {"model": answers.model, "provider": provider.name}
    if answers.base_url:
        default["baseURL"] = answers.base_url
    spec: dict[str, Any] = {
        "agents": {"default": default},
        "channels": channels,
        "authRefs": auth_refs,
    }
    if answers.policy:
        spec["policyRef"] = DEFAULT_POLICY
    meta = {"name": inst, "namespace": ns, "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY}}
    instance = ClawInstance.from_wire({"metadata": meta, "spec": spec})  # validates
    objects.append(instance.to_wire())
    return objects
