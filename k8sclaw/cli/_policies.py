"""`k8sclaw policies list|get`: ClawPolicies governing instances."""

from __future__ import annotations

from k8sclaw.cli import _resources

policies = _resources.group("policies", "ClawPolicy", verbs=("list", "get"))
