"""Builders for AgentRun and ClawPolicy objects used by the policy and webhook tests."""

from __future__ import annotations

import copy
from typing import Any

from k8sclaw_protocol import AgentRun, ClawPolicy


def run_body(name: str = "run-1", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    """Wire form of a minimal valid AgentRun of instance "alpha", with `spec` overrides."""
    body: dict[str, Any] = {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "instanceRef": "alpha",
            "sessionKey": "s-1",
            "task": "summarise the logs",
            "model": {"provider": "openai", "model": "gpt-4o"},
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def make_run(**spec: Any) -> AgentRun:
    """A parsed AgentRun with `spec` overrides."""
    return AgentRun.from_wire(run_body(**spec))


def policy_body(
    name: str = "default-policy", namespace: str = "team-a", **spec: Any
) -> dict[str, Any]:
    """Wire form of a ClawPolicy with the given spec."""
    return {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "ClawPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": copy.deepcopy(spec),
    }


def make_policy(**spec: Any) -> ClawPolicy:
    """A parsed ClawPolicy named default-policy."""
    return ClawPolicy.from_wire(policy_body(**spec))


SANDBOX = {"enabled": True, "image": "ghcr.io/k8sclaw/sandbox:0.1.0"}


def sandbox(**resources: dict[str, Any]) -> dict[str, Any]:
    """An enabled sandbox with the given requests/limits."""
    return {**SANDBOX, "resources": resources} if resources else dict(SANDBOX)
