"""`k8sclaw policies list|get`: ClawPolicies governing instances."""

from __future__ import annotations

from k8sclaw.cli import _resources
from k8sclaw_protocol import ClawPolicy

policies = _resources.group("policies", ClawPolicy, verbs=("list", "get"))
