"""Objects the API tests create."""

from __future__ import annotations

from typing import Any


def instance(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8sclaw.io/v1alpha1",
        "kind": "ClawInstance",
        "metadata": {"name": name},
        "spec": {
            "agents": {"default": {"model": "gpt-4o", "provider": "openai"}},
            "authRefs": [{"provider": "openai", "secret": f"{name}-openai-key"}],
        },
    }


def schedule(name: str, instance_ref: str) -> dict[str, Any]:
    return {
        "kind": "ClawSchedule",
        "metadata": {"name": name},
        "spec": {"instanceRef": instance_ref, "schedule": "0 * * * *", "task": "check in"},
    }
